// The training-health monitor on metric streams shaped like the stages' own lines: each pathology
// fires its check (once, then counted), a healthy stream fires none, a threshold of 0 silences one.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Reporter } from '../../runtime/reporter.ts';
import { HEALTH_DEFAULTS, HealthMonitor, type CheckId } from '../../runtime/health.ts';
import { correlation, fit, lengthDrivenGain } from '../../runtime/text-stats.ts';

type Line = Record<string, number | string>;

function run(lines: Line[], thresholds = HEALTH_DEFAULTS) {
  const m = new HealthMonitor(thresholds);
  const fresh = lines.map((l) => m.observe(l).map((f) => f.check));
  return { fresh, findings: m.findings(), fired: new Set(m.findings().map((f) => f.check)) };
}

const steps = (n: number, f: (i: number) => Line): Line[] => Array.from({ length: n }, (_, i) => ({ step: (i + 1) * 10, ...f(i) }));

// A GRPO-like run that is fine: rewards spread, answers not cut, length steady, KL small and flat.
const healthyGroup = steps(12, (i) => ({ reward: 0.2 + 0.02 * i, frac_reward_zero_std: 0.1, truncated_ratio: 0.05, reward_length_corr: 0.1 * Math.sin(i), completion_len: 12 + (i % 3), kl: 0.5 + 0.05 * Math.sin(i), entropy: 2.5 - 0.05 * i }));
const healthySft = steps(10, (i) => ({ loss: 3 - 0.2 * i, val_loss: 3.1 - 0.15 * i }));
const healthyDpo = steps(8, (i) => ({ loss: 0.69 - 0.03 * i, 'rewards/chosen': 0.1 + 0.05 * i, 'rewards/rejected': -0.1 - 0.05 * i, reward_margin: 0.2 + 0.1 * i, eval_loss: 0.7 - 0.03 * i }));

describe('health monitor', () => {
  it('a healthy run raises no flag', () => {
    for (const s of [healthyGroup, healthySft, healthyDpo]) expect(run(s).findings).toEqual([]);
  });

  const cases: [CheckId, Line[]][] = [
    ['zero_std', steps(6, (i) => ({ reward: 1, frac_reward_zero_std: i < 3 ? 0.2 : 1 }))],
    ['truncation', steps(4, () => ({ truncated_ratio: 0.9 }))],
    ['length_corr', steps(4, () => ({ reward_length_corr: -0.8 }))],
    ['length_drift', steps(6, (i) => ({ completion_len: 20 - 3 * i }))],
    ['kl_max', steps(3, (i) => ({ kl: 10 + 8 * i }))],
    ['kl_growth', steps(7, (i) => ({ kl: 0.5 * 1.3 ** i }))],
    ['entropy_drop', steps(6, (i) => ({ entropy: 3 * 0.5 ** i }))],
    ['chosen_falling', steps(6, (i) => ({ 'rewards/chosen': -0.1 * i, reward_margin: 0.3 * i }))],
    ['flat_evals', steps(7, (i) => ({ val_loss: i < 2 ? 3 - i : 2.0 + 1e-5 * i }))],
  ];
  for (const [check, lines] of cases) {
    it(`flags ${check}, once, and keeps counting`, () => {
      const r = run(lines);
      expect([...r.fired]).toEqual([check]);
      const f = r.findings[0];
      expect(r.fresh.flat().filter((c) => c === check)).toHaveLength(1);
      expect(f.count).toBeGreaterThanOrEqual(1);
      expect(f.lastStep).toBeGreaterThanOrEqual(f.step);
      expect(f.message.length).toBeGreaterThan(20);
      // silenced with 0
      expect(run(lines, { ...HEALTH_DEFAULTS, [check]: 0 }).findings).toEqual([]);
    });
  }

  it('keeps the worst value and the first step', () => {
    const r = run(steps(5, (i) => ({ truncated_ratio: [0.1, 0.4, 0.9, 0.5, 0.35][i] })));
    expect(r.findings).toHaveLength(1);
    // averaged over the last 3 logged steps: 0.467 at step 30 (fires), 0.6 at 40 (the worst), 0.583 at 50
    expect(r.findings[0]).toMatchObject({ check: 'truncation', step: 30, lastStep: 50, count: 3 });
    expect(r.findings[0].value).toBeCloseTo(0.6, 12);
    expect(r.findings[0].message).toMatch(/60% of answers/);
  });

  it('the truncation hint names a parameter the stage has (grpo/rloo: mask_truncated_completions; ppo: length.overlong_cache)', () => {
    const ppo = run(steps(4, () => ({ truncated_ratio: 0.9 }))).findings[0].message;
    expect(ppo).toMatch(/overlong_cache/);
    expect(ppo).not.toMatch(/mask_truncated_completions/);
    const group = run(steps(4, () => ({ truncated_ratio: 0.9, frac_reward_zero_std: 0 }))).findings[0].message;
    expect(group).toMatch(/mask_truncated_completions: true/);
  });

  it('kl_growth measures doubling from a positive KL: the rise out of zero at the start is not growth', () => {
    // the sampled KL estimate starts near 0 (here −0.127, as a real PPO run logged) and rises to its level
    expect(run(steps(6, (i) => ({ kl: [-0.127, 0.05, 0.12, 0.25, 0.38, 0.501][i] }))).fired.has('kl_growth')).toBe(false);
    expect(run(steps(6, (i) => ({ kl: [0, 0.05, 0.12, 0.25, 0.38, 0.501][i] }))).fired.has('kl_growth')).toBe(false);
    // from a positive start, the same rise fires
    expect(run(steps(6, (i) => ({ kl: [0.02, 0.05, 0.12, 0.25, 0.38, 0.501][i] }))).fired.has('kl_growth')).toBe(true);
  });

  it('thresholds are the stage’s: a looser one does not fire', () => {
    const lines = steps(4, () => ({ truncated_ratio: 0.4 }));
    expect(run(lines).fired.has('truncation')).toBe(true);
    expect(run(lines, { ...HEALTH_DEFAULTS, truncation: 0.5 }).fired.has('truncation')).toBe(false);
  });

  it('correlation: hand values', () => {
    expect(correlation([1, 2, 3, 4], [2, 4, 6, 8])).toBeCloseTo(1, 12);
    expect(correlation([1, 2, 3, 4], [8, 6, 4, 2])).toBeCloseTo(-1, 12);
    // x = 1..5, y = [2,1,4,3,5]: Σdxdy = 8, Σdx² = 10, Σdy² = 10 → 0.8
    expect(correlation([1, 2, 3, 4, 5], [2, 1, 4, 3, 5])).toBeCloseTo(0.8, 12);
    expect(correlation([1, 1, 1], [1, 2, 3])).toBeNaN();
    expect(correlation([1, 2], [1, 2])).toBeNaN();
  });

  it('fit: slope, its standard error and r against hand values', () => {
    // Σdxdy = 9.8, Σdx² = 5 → slope 1.96; Σdy² = 19.24, SSR = 19.24 − 1.96·9.8 = 0.032, se = √(0.032/2/5)
    const f = fit([1, 2, 3, 4], [2.1, 3.9, 6.1, 7.9])!;
    expect(f.slope).toBeCloseTo(1.96, 12);
    expect(f.se).toBeCloseTo(Math.sqrt(0.032 / 2 / 5), 12);
    expect(fit([1, 1, 1], [1, 2, 3])).toBeUndefined();
  });

  it('length-driven gain: flagged when length explains the gain, not when content does', () => {
    // The judge pays 0.05 per token; the model's answers are 6 tokens longer and its gain is 0.3 = 6 × 0.05.
    const ref = { lengths: [4, 5, 6, 7, 8, 4, 5, 6, 7, 8], scores: [0.2, 0.25, 0.3, 0.35, 0.4, 0.21, 0.24, 0.31, 0.34, 0.41] };
    const longer = { lengths: ref.lengths.map((n) => n + 6), scores: ref.scores.map((s) => s + 0.3) };
    const g = lengthDrivenGain(longer, ref);
    expect(g.gain).toBeCloseTo(0.3, 10);
    expect(g.predicted).toBeGreaterThan(0.25);
    expect(g.flag).toMatch(/length-driven gain/);
    // Same lengths, higher scores: content.
    const better = { lengths: ref.lengths, scores: ref.scores.map((s) => s + 0.3) };
    expect(lengthDrivenGain(better, ref).flag).toBeUndefined();
    // Longer and worse: no gain to explain.
    expect(lengthDrivenGain({ lengths: longer.lengths, scores: ref.scores.map((s) => s - 0.1) }, ref).flag).toBeUndefined();
  });

  it('a Reporter with a health block prints each finding once, above its lines, and keeps them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rlhfc-health-'));
    try {
      const out: string[] = [];
      const r = new Reporter({ dir, label: 'grpo', tty: false, write: (l) => out.push(l), health: HEALTH_DEFAULTS });
      for (const l of steps(4, (i) => ({ reward: 0.1 * i, truncated_ratio: i >= 1 ? 0.6 : 0 }))) r.log(l);
      const warnings = out.filter((l) => l.startsWith('warning:'));
      expect(warnings).toEqual([expect.stringMatching(/^warning: grpo: step 30: 40% of answers hit max_new_tokens .*\[health\.truncation\]$/)]);
      expect(r.findings()).toMatchObject([{ check: 'truncation', step: 30, lastStep: 40, count: 2 }]);
      // without a health block: no monitor
      const quiet = new Reporter({ dir, label: 'x', tty: false, write: (l) => out.push(l) });
      quiet.log({ step: 1, truncated_ratio: 1 });
      expect(quiet.findings()).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
