// The training-health monitor: reads the metrics lines a training stage already logs (through its
// Reporter) and says when training looks sick — groups that teach nothing, truncated answers, a reward
// that follows answer length, lengths drifting, KL running away, entropy collapsing, DPO/KTO's chosen
// reward falling while the margin rises, a loss that stopped moving. Pure: no TensorFlow.js, no I/O.
//
// Statistics of one step's small batch (zero-variance groups, truncation, reward–length correlation,
// mean length) are averaged over the last WINDOW logged lines before they are compared, so one noisy
// batch does not raise a warning. Each check reads a few metric names (whichever the stage logs), has a threshold in the stage's
// `health { ... }` block (0 silences it), and reports once when it first fires; later firings are
// counted and the worst value kept, so a run record holds one finding per check.

import { block, float, int, type ParamsOf, type ResolvedParams } from '../core/schema.ts';

const FIELDS = {
  zero_std: float('Warn when at least this fraction of reward groups scored every answer the same, over the last 3 logged steps (grpo, rloo: those groups teach nothing).', 0.5, 0, 1),
  truncation: float('Warn when at least this fraction of answers hit max_new_tokens, over the last 3 logged steps.', 0.3, 0, 1),
  length_corr: float('Warn when |correlation| between reward and answer length, averaged over the last 3 logged steps, reaches this (reward follows length: possible length hacking).', 0.5, 0, 1),
  length_drift: float('Warn when mean answer length (its last 3 logged steps) moves by at least this fraction from its first 3.', 0.3, 0),
  kl_max: float('Warn when the KL to the reference exceeds this.', 20, 0),
  kl_growth: int('Warn when the KL rose at each of this many logged steps in a row and at least doubled over them (growing without bound).', 5, 0),
  entropy_drop: float('Warn when the policy entropy falls below this fraction of its first logged value (entropy collapse).', 0.2, 0, 1),
  chosen_falling: int('DPO/KTO: warn when, over the last N evaluations, the held-out chosen reward fell below 0 (the chosen answers less likely than under the reference) while the margin rose.', 3, 0),
  flat_evals: int('Warn when the held-out loss moved by less than 0.1% (relative) over this many evaluations in a row.', 4, 0),
};

export const health = {
  ...block('Training-health monitor: warnings while training (also kept in the run record and the report). 0 silences a check. Not part of the cache key.', 'always', FIELDS),
  notInHash: true,
};

export type HealthParams = ParamsOf<typeof FIELDS>;
export type CheckId = keyof typeof FIELDS;

/** Defaults of every threshold (a stage without a `health` block in its params uses these). */
export const HEALTH_DEFAULTS = Object.fromEntries(Object.entries(FIELDS).map(([k, s]) => [k, s.default])) as HealthParams;

/** One check that fired: first where, how often, the worst value, and a message a person reads. */
export interface Finding {
  check: CheckId;
  /** Step of the first firing. */
  step: number;
  /** Step of the latest firing. */
  lastStep: number;
  count: number;
  /** The value that fired the check (worst seen), and the threshold it crossed. */
  value: number;
  threshold: number;
  message: string;
}

type Line = Record<string, number | string>;

const num = (l: Line, ...keys: string[]): number | undefined => {
  for (const k of keys) {
    const v = l[k];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return undefined;
};

/** Checks on per-step statistics of one small batch read them averaged over this many logged lines (noise). */
export const WINDOW = 3;

/** The mean of the first present key over the last `WINDOW` lines that have it (undefined until there are that many). */
const recent = (h: Line[], ...keys: string[]): number | undefined => {
  const xs = h.map((l) => num(l, ...keys)).filter((x): x is number => x !== undefined);
  if (xs.length < WINDOW) return undefined;
  const w = xs.slice(-WINDOW);
  return w.reduce((a, b) => a + b, 0) / WINDOW;
};

const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
const f3 = (x: number) => x.toFixed(3);

// Metric names as the stages log them (first present wins).
const REWARD = ['reward', 'score'];
const LENGTH = ['completion_len', 'response_len'];
const HELD_OUT_LOSS = ['val_loss', 'eval_loss'];

/** A check's verdict on the history so far: the value, the message, and how bad it is (larger: worse). */
interface Verdict {
  value: number;
  message: string;
  severity: number;
}

type Check = (h: Line[], t: number) => Verdict | undefined;

const CHECKS: Record<CheckId, Check> = {
  zero_std: (h, t) => {
    const v = recent(h, 'frac_reward_zero_std');
    if (v === undefined || v < t) return undefined;
    return { value: v, severity: v, message: `${pct(v)} of reward groups scored every answer the same over the last ${WINDOW} logged steps (frac_reward_zero_std ${f3(v)} ≥ ${t}): they teach nothing — raise generation.temperature or num_generations, or use a finer-grained reward` };
  },
  truncation: (h, t) => {
    const v = recent(h, 'truncated_ratio');
    if (v === undefined || v < t) return undefined;
    // grpo and rloo log frac_reward_zero_std and have mask_truncated_completions; ppo has neither
    const group = h.some((l) => num(l, 'frac_reward_zero_std') !== undefined);
    const fix = group ? 'or set mask_truncated_completions: true' : 'or penalise answers near the limit with length { overlong_cache }';
    return { value: v, severity: v, message: `${pct(v)} of answers hit max_new_tokens over the last ${WINDOW} logged steps (truncated_ratio ${f3(v)} ≥ ${t}): raise generation.max_new_tokens, ${fix}` };
  },
  length_corr: (h, t) => {
    const v = recent(h, 'reward_length_corr');
    if (v === undefined || Math.abs(v) < t) return undefined;
    return { value: v, severity: Math.abs(v), message: `reward follows answer length (correlation ${f3(v)} over the last ${WINDOW} logged steps, |r| ≥ ${t}): the policy can gain by making answers ${v > 0 ? 'longer' : 'shorter'} — consider length shaping or a length-debiased reward model` };
  },
  length_drift: (h, t) => {
    const xs = h.map((l) => num(l, ...LENGTH)).filter((x): x is number => x !== undefined);
    if (xs.length < 2 * WINDOW) return undefined;
    const first = xs.slice(0, WINDOW).reduce((a, b) => a + b, 0) / WINDOW;
    const now = xs.slice(-WINDOW).reduce((a, b) => a + b, 0) / WINDOW;
    if (first <= 0) return undefined;
    const d = (now - first) / first;
    if (Math.abs(d) < t) return undefined;
    return { value: d, severity: Math.abs(d), message: `mean answer length moved from ${first.toFixed(1)} (first ${WINDOW} logged steps) to ${now.toFixed(1)} (last ${WINDOW}): ${d > 0 ? '+' : ''}${pct(d)}, |change| ≥ ${pct(t)}` };
  },
  kl_max: (h, t) => {
    const v = num(h[h.length - 1], 'kl');
    if (v === undefined || v <= t) return undefined;
    return { value: v, severity: v, message: `KL to the reference is ${f3(v)} (> ${t}): the policy is far from where it started — raise the KL coefficient or lower the learning rate` };
  },
  kl_growth: (h, n) => {
    const ks = h.map((l) => num(l, 'kl')).filter((x): x is number => x !== undefined);
    if (ks.length < n + 1) return undefined;
    const w = ks.slice(-(n + 1));
    const rising = w.every((x, i) => i === 0 || x > w[i - 1]);
    // a window that starts at or below zero is the start of training (the policy is the reference, and
    // the sampled estimate can dip below 0), not growth: doubling is measured from a positive KL
    if (!rising || !(w[0] > 0 && w[n] >= 2 * w[0])) return undefined;
    return { value: w[n], severity: w[n], message: `KL rose at each of the last ${n} logged steps, ${f3(w[0])} → ${f3(w[n])}: growing without bound` };
  },
  entropy_drop: (h, t) => {
    const first = h.map((l) => num(l, 'entropy')).find((x) => x !== undefined);
    const now = num(h[h.length - 1], 'entropy');
    if (first === undefined || now === undefined || !(first > 0) || now >= t * first) return undefined;
    return { value: now, severity: -now, message: `policy entropy collapsed: ${f3(first)} → ${f3(now)} (< ${pct(t)} of its first value): answers are becoming deterministic` };
  },
  chosen_falling: (h, n) => {
    const evals = h.filter((l) => num(l, 'rewards/chosen') !== undefined && num(l, 'reward_margin') !== undefined);
    if (evals.length < n + 1) return undefined;
    const w = evals.slice(-(n + 1));
    const [c0, cn] = [num(w[0], 'rewards/chosen')!, num(w[n], 'rewards/chosen')!];
    const [m0, mn] = [num(w[0], 'reward_margin')!, num(w[n], 'reward_margin')!];
    if (!(cn < c0 && cn < 0 && mn > m0)) return undefined;
    return { value: cn, severity: -cn, message: `held-out chosen reward fell over the last ${n} evaluations (${f3(c0)} → ${f3(cn)}, below the reference) while the margin rose (${f3(m0)} → ${f3(mn)}): the model is pushing both answers down — likelihood displacement` };
  },
  flat_evals: (h, n) => {
    const ls = h.map((l) => num(l, ...HELD_OUT_LOSS)).filter((x): x is number => x !== undefined);
    if (ls.length < n + 1) return undefined;
    const w = ls.slice(-(n + 1));
    const flat = w.every((x, i) => i === 0 || Math.abs(x - w[i - 1]) <= 1e-3 * Math.abs(w[i - 1]));
    if (!flat) return undefined;
    return { value: w[n], severity: n, message: `held-out loss flat for ${n} evaluations (${f3(w[0])} → ${f3(w[n])}): training has stopped learning — check the learning rate and the data` };
  },
};

/** Watches one stage's metrics lines. */
export class HealthMonitor {
  private readonly history: Line[] = [];
  private readonly found = new Map<CheckId, { finding: Finding; severity: number }>();

  constructor(private readonly thresholds: HealthParams = HEALTH_DEFAULTS) {}

  /** Take one metrics line; returns the checks that fire for the first time on it. */
  observe(line: Line): Finding[] {
    this.history.push(line);
    const step = num(line, 'step') ?? this.history.length;
    const fresh: Finding[] = [];
    for (const id of Object.keys(CHECKS) as CheckId[]) {
      const t = this.thresholds[id];
      if (!(t > 0)) continue;
      const v = CHECKS[id](this.history, t);
      if (!v) continue;
      const old = this.found.get(id);
      if (!old) {
        const f: Finding = { check: id, step, lastStep: step, count: 1, value: v.value, threshold: t, message: v.message };
        this.found.set(id, { finding: f, severity: v.severity });
        fresh.push(f);
        continue;
      }
      old.finding.count++;
      old.finding.lastStep = step;
      if (v.severity > old.severity) {
        Object.assign(old.finding, { value: v.value, message: v.message });
        old.severity = v.severity;
      }
    }
    return fresh;
  }

  /** Every check that fired, in the order they first fired. */
  findings(): Finding[] {
    return [...this.found.values()].map((x) => x.finding);
  }
}

/** A stage's `health { ... }` thresholds from its resolved params; undefined for a stage kind without the block. */
export function healthOf(params: ResolvedParams): HealthParams | undefined {
  const h = params['health'];
  if (!h || typeof h !== 'object' || Array.isArray(h)) return undefined;
  const out = { ...HEALTH_DEFAULTS };
  for (const k of Object.keys(out) as CheckId[]) {
    const v = h[k];
    if (typeof v === 'number') out[k] = v;
  }
  return out;
}

/** Replay a stage's logged metrics lines through the monitor (the report, for stages run earlier). */
export function replay(lines: readonly Record<string, unknown>[], thresholds: HealthParams): Finding[] {
  const m = new HealthMonitor(thresholds);
  for (const l of lines) m.observe(Object.fromEntries(Object.entries(l).filter((e): e is [string, number | string] => typeof e[1] === 'number' || typeof e[1] === 'string')));
  return m.findings();
}

/** One warning line for the console. */
export function formatFinding(stage: string, f: Finding): string {
  return `warning: ${stage}: step ${f.step}: ${f.message} [health.${f.check}]`;
}
