// The KL coefficient controllers and score scaling of TRL's classic PPOTrainer
// (trl 0.4–0.11: `AdaptiveKLController`, `FixedKLController` in `ppo_trainer.py`, `RunningMoments`
// in `trainer/utils.py`, and the `use_score_scaling` / `use_score_norm` / `score_clip` block of `step`).

/** A KL coefficient β and how it moves after each PPO step. */
export interface KlController {
  value: number;
  /** `currentKl`: mean summed KL of the step's responses; `nSteps`: responses in the step (batch size). */
  update(currentKl: number, nSteps: number): void;
  state(): KlControllerState;
}

/** Plain-data state of a controller, for checkpoints: `klControllerFromState` restores it. */
export type KlControllerState = { kind: 'fixed'; value: number } | { kind: 'adaptive'; value: number; target: number; horizon: number };

/** TRL `FixedKLController`: β never moves. */
export class FixedKl implements KlController {
  constructor(public value: number) {}
  update(_currentKl?: number, _nSteps?: number): void {}
  state(): KlControllerState {
    return { kind: 'fixed', value: this.value };
  }
}

/**
 * TRL `AdaptiveKLController` (Ziegler et al. 2019, arXiv:1909.08593):
 * β ← β·(1 + clip(KL/target − 1, −0.2, 0.2)·n/horizon).
 */
export class AdaptiveKl implements KlController {
  constructor(
    public value: number,
    public readonly target: number,
    public readonly horizon: number,
  ) {
    if (!(target > 0) || !(horizon > 0)) throw new Error(`adaptive KL needs target > 0 and horizon > 0 (got ${target}, ${horizon})`);
  }
  update(currentKl: number, nSteps: number): void {
    const err = Math.min(0.2, Math.max(-0.2, currentKl / this.target - 1));
    this.value *= 1 + (err * nSteps) / this.horizon;
  }
  state(): KlControllerState {
    return { kind: 'adaptive', value: this.value, target: this.target, horizon: this.horizon };
  }
}

/** Rebuild a controller from `state()`. */
export function klControllerFromState(s: KlControllerState): KlController {
  return s.kind === 'adaptive' ? new AdaptiveKl(s.value, s.target, s.horizon) : new FixedKl(s.value);
}

/**
 * Running mean/std of scores (TRL `RunningMoments`, parallel variance combination of Chan et al.),
 * starting from mean 0, var 1, count 1e-24 as TRL. Where TRL divides by zero (a single sample in the
 * first update, or a batch of one) the unbiased correction is skipped instead.
 */
export class RunningMoments {
  mean = 0;
  std = 1;
  private var = 1;
  private count = 1e-24;

  /** Fold in a batch; returns the batch's own mean and unbiased std (as TRL). */
  update(xs: number[]): { mean: number; std: number } {
    const n = xs.length;
    if (n === 0) return { mean: 0, std: 0 };
    const m = xs.reduce((s, x) => s + x, 0) / n;
    const v = xs.reduce((s, x) => s + (x - m) * (x - m), 0) / n;
    const delta = m - this.mean;
    const tot = this.count + n;
    const totSum = this.var * this.count + (delta * delta * this.count * n) / tot + v * n;
    this.mean += (delta * n) / tot;
    this.var = totSum / tot;
    this.std = Math.sqrt((this.var * tot) / (tot - 1 >= 1 ? tot - 1 : 1));
    this.count = tot;
    return { mean: m, std: Math.sqrt((v * n) / (n > 1 ? n - 1 : 1)) };
  }

  state() {
    return { mean: this.mean, std: this.std, var: this.var, count: this.count };
  }
  load(s: { mean: number; std: number; var: number; count: number }) {
    this.mean = s.mean;
    this.std = s.std;
    this.var = s.var;
    this.count = s.count;
  }
}

/** TRL's score options: `use_score_scaling`, `use_score_norm`, `score_clip` (0 or undefined: none). */
export interface ScoreScaling {
  scaling?: boolean;
  norm?: boolean;
  clip?: number;
}

const FLOAT32_EPS = 1.1920928955078125e-7;

/**
 * Scale and clip a batch of scores as TRL's `step`: with `scaling`, update the running moments, then
 * s / (std + eps) — or (s − mean) / (std + eps) with `norm` — using the running statistics
 * (eps = float32 machine epsilon, as TRL for float32 scores); then clip to ±clip.
 */
export function scaleScores(scores: number[], moments: RunningMoments, opts: ScoreScaling): number[] {
  let out = scores;
  if (opts.scaling) {
    moments.update(scores);
    const f = moments.std + FLOAT32_EPS;
    out = out.map((s) => (opts.norm ? (s - moments.mean) / f : s / f));
  }
  const c = opts.clip;
  if (c !== undefined && c > 0) out = out.map((s) => Math.max(-c, Math.min(c, s)));
  return out;
}
