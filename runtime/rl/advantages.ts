// PPO's estimators as pure functions on plain arrays (no gradients flow through them), following
// TRL's classic PPOTrainer (trl ≤ 0.11: `compute_rewards`, `compute_advantages`, `masked_whiten`,
// `AdaptiveKLController`, `FixedKLController`, `RunningMoments`).

/** Masked mean. */
export function maskedMean(x: number[], mask?: number[]): number {
  let s = 0;
  let n = 0;
  x.forEach((v, i) => {
    const m = mask ? mask[i] : 1;
    s += v * m;
    n += m;
  });
  return n > 0 ? s / n : 0;
}

/** Masked variance, unbiased (Bessel's correction) as TRL's `masked_var`. */
export function maskedVar(x: number[], mask?: number[]): number {
  const mean = maskedMean(x, mask);
  let s = 0;
  let n = 0;
  x.forEach((v, i) => {
    const m = mask ? mask[i] : 1;
    s += (v - mean) * (v - mean) * m;
    n += m;
  });
  if (n <= 1) return 0;
  return (s / n) * (n / (n - 1));
}

/** (x − mean) / sqrt(var + 1e-8) over masked entries; with shiftMean false the mean is added back. */
export function whiten(x: number[], mask?: number[], shiftMean = true): number[] {
  const mean = maskedMean(x, mask);
  const std = Math.sqrt(maskedVar(x, mask) + 1e-8);
  return x.map((v) => ((v - mean) / std) + (shiftMean ? 0 : mean));
}

export type KlPenalty = 'kl' | 'abs' | 'mse';

/** Per-token KL estimate from log-probs of the sampled tokens under the policy and the reference. */
export function klPerToken(logp: number, logpRef: number, penalty: KlPenalty): number {
  const d = logp - logpRef;
  if (penalty === 'abs') return Math.abs(d);
  if (penalty === 'mse') return 0.5 * d * d;
  return d;
}

export interface TokenRewards {
  /** Per-token rewards: −β·kl, plus the score at the last response token. */
  rewards: number[][];
  /** Per-token −β·kl alone. */
  nonScore: number[][];
  /** Per-token kl estimates. */
  kl: number[][];
}

/**
 * Per-token rewards for a batch of responses. `logprobs[b][t]`, `refLogprobs[b][t]` are the
 * log-probs of the response tokens; `masks[b][t]` is 1 for real response tokens.
 */
export function computeRewards(
  scores: number[],
  logprobs: number[][],
  refLogprobs: number[][],
  masks: number[][],
  beta: number,
  penalty: KlPenalty = 'kl',
): TokenRewards {
  const rewards: number[][] = [];
  const nonScore: number[][] = [];
  const kl: number[][] = [];
  for (let b = 0; b < scores.length; b++) {
    const k = logprobs[b].map((lp, t) => klPerToken(lp, refLogprobs[b][t], penalty) * masks[b][t]);
    const ns = k.map((v) => -beta * v);
    const r = [...ns];
    let last = -1;
    masks[b].forEach((m, t) => {
      if (m > 0) last = t;
    });
    if (last >= 0) r[last] += scores[b];
    rewards.push(r);
    nonScore.push(ns);
    kl.push(k);
  }
  return { rewards, nonScore, kl };
}

/**
 * Generalised advantage estimation over one response (TRL `compute_advantages`):
 *   δ_t = r_t + γ·V_{t+1} − V_t,  A_t = δ_t + γλ·A_{t+1},  returns = A + V,
 * with V and A zero past the end; masked positions are zeroed first. Advantages are then
 * whitened over the batch by the caller (`whiten`).
 */
export function gae(values: number[], rewards: number[], gamma: number, lambda: number, mask?: number[]): { advantages: number[]; returns: number[] } {
  const T = values.length;
  const v = values.map((x, t) => x * (mask ? mask[t] : 1));
  const r = rewards.map((x, t) => x * (mask ? mask[t] : 1));
  const adv = new Array<number>(T).fill(0);
  let last = 0;
  for (let t = T - 1; t >= 0; t--) {
    const next = t < T - 1 ? v[t + 1] : 0;
    const delta = r[t] + gamma * next - v[t];
    last = delta + gamma * lambda * last;
    adv[t] = last;
  }
  return { advantages: adv, returns: adv.map((a, t) => a + v[t]) };
}

export interface KlController {
  value: number;
  update(currentKl: number, nSteps: number): void;
  state(): { kind: 'fixed' | 'adaptive'; value: number };
}

export class FixedKl implements KlController {
  constructor(public value: number) {}
  update(_currentKl?: number, _nSteps?: number): void {}
  state() {
    return { kind: 'fixed' as const, value: this.value };
  }
}

/** Ziegler et al. (2019): β ← β·(1 + clip(KL/target − 1, −0.2, 0.2)·n/horizon). */
export class AdaptiveKl implements KlController {
  constructor(
    public value: number,
    public readonly target: number,
    public readonly horizon: number,
  ) {}
  update(currentKl: number, nSteps: number): void {
    const err = Math.min(0.2, Math.max(-0.2, currentKl / this.target - 1));
    this.value *= 1 + (err * nSteps) / this.horizon;
  }
  state() {
    return { kind: 'adaptive' as const, value: this.value };
  }
}

/** Running mean/std of scores (TRL `RunningMoments`), for score scaling. */
export class RunningMoments {
  mean = 0;
  std = 1;
  private var = 1;
  private count = 1e-24;

  update(xs: number[]): { mean: number; std: number } {
    const n = xs.length;
    const m = maskedMean(xs);
    const v = xs.reduce((s, x) => s + (x - m) * (x - m), 0) / Math.max(n, 1);
    const delta = m - this.mean;
    const tot = this.count + n;
    const newSum = this.var * this.count + v * n + ((delta * delta * this.count * n) / tot);
    this.mean += (delta * n) / tot;
    this.var = newSum / tot;
    this.std = Math.sqrt((this.var * tot) / Math.max(tot - 1, 1));
    this.count = tot;
    return { mean: m, std: Math.sqrt(v * (n / Math.max(n - 1, 1))) };
  }

  state() {
    return { mean: this.mean, std: this.std, var: this.var, count: this.count };
  }
  load(s: { mean: number; std: number; var: number; count: number }) {
    Object.assign(this, { mean: s.mean, std: s.std });
    this.var = s.var;
    this.count = s.count;
  }
}
