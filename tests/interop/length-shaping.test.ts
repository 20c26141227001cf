// Length shaping against TRL 1.13's own get_soft_overlong_punishment on every length around the
// window, and the short-answer floor against hand values.
import { expect, it } from 'vitest';
import { lengthReward, shortFloor, softOverlong } from '../../runtime/rl/length.ts';
import { describeInterop, pyJson } from './python.ts';

const EXPORT_PY = 'compiler/export/trl/py';

const CASES = [
  [100, 20],
  [24, 8],
  [16, 16],
  [10, 1],
  [12, 0],
] as const;

describeInterop('interop: length shaping equals TRL', () => {
  it('softOverlong = trl.rewards.get_soft_overlong_punishment', { timeout: 120_000 }, () => {
    const lengths = (max: number) => Array.from({ length: max + 6 }, (_, i) => i);
    const trl = pyJson<number[][]>(`import json
from trl.rewards import get_soft_overlong_punishment
out = []
for max_len, cache in ${JSON.stringify(CASES)}:
    f = get_soft_overlong_punishment(max_completion_len=max_len, soft_punish_cache=cache)
    out.append(f([[1] * n for n in range(max_len + 6)]))
print(json.dumps(out))`);
    CASES.forEach(([max, cache], c) => {
      const ours = lengths(max).map((n) => softOverlong(n, max, cache));
      ours.forEach((v, n) => expect(v, `max ${max} cache ${cache} length ${n}`).toBeCloseTo(trl[c][n], 12));
    });
  });

  it('the export computes the same shaping: ppo.py length_reward, judges.soft_overlong and judges.short_floor', { timeout: 120_000 }, () => {
    const settings = [
      { overlong_cache: 8, overlong_weight: 2, floor: 4, floor_weight: 0.5 },
      { overlong_cache: 0, overlong_weight: 1, floor: 6, floor_weight: 1 },
      { overlong_cache: 24, overlong_weight: 0.3, floor: 0, floor_weight: 1 },
    ];
    const out = pyJson<{ ppo: number[][]; funcs: number[][] }>(`import json, sys, types
sys.path.insert(0, ${JSON.stringify(EXPORT_PY)})
from rlhf_export.ppo import length_reward
from rlhf_export import judges
settings = ${JSON.stringify(settings)}
ppo, funcs = [], []
for s in settings:
    a = types.SimpleNamespace(max_new_tokens=24, length_floor=s["floor"], **{k: v for k, v in s.items() if k != "floor"})
    ppo.append([length_reward(n, a) for n in range(31)])
    ids = [[1] * n for n in range(31)]
    row = [0.0] * 31
    if s["overlong_cache"] > 0:
        row = [r + s["overlong_weight"] * x for r, x in zip(row, judges.soft_overlong(24, s["overlong_cache"])([""] * 31, [""] * 31, completion_ids=ids))]
    if s["floor"] > 0:
        row = [r + s["floor_weight"] * x for r, x in zip(row, judges.short_floor(s["floor"])([""] * 31, [""] * 31, completion_ids=ids))]
    funcs.append(row)
print(json.dumps({"ppo": ppo, "funcs": funcs}))`);
    settings.forEach((s, i) => {
      for (let n = 0; n <= 30; n++) {
        expect(out.ppo[i][n], `ppo.py ${JSON.stringify(s)} n=${n}`).toBeCloseTo(lengthReward(n, s, 24), 12);
        expect(out.funcs[i][n], `reward funcs ${JSON.stringify(s)} n=${n}`).toBeCloseTo(lengthReward(n, s, 24), 12);
      }
    });
  });
});

it('short floor and the weighted sum: hand values', () => {
  expect([0, 1, 2, 3, 4, 5, 9].map((n) => shortFloor(n, 4))).toEqual([-1, -0.75, -0.5, -0.25, 0, 0, 0]);
  expect(shortFloor(0, 0)).toBe(0);
  // max_new_tokens 24, cache 8: 20 tokens → (16 − 20) / 8 = −0.5; floor 4: 2 tokens → −0.5
  const p = { overlong_cache: 8, overlong_weight: 2, floor: 4, floor_weight: 0.5 };
  expect(lengthReward(20, p, 24)).toBeCloseTo(-1, 12);
  expect(lengthReward(2, p, 24)).toBeCloseTo(-0.25, 12);
  expect(lengthReward(10, p, 24)).toBe(0);
  expect(lengthReward(30, { ...p, floor: 0 }, 24)).toBe(-2);
  expect(lengthReward(0, { overlong_cache: 0, overlong_weight: 1, floor: 0, floor_weight: 1 }, 24)).toBe(0);
});
