// The exported ODIN loss (compiler/export/trl/py/rlhf_export/odin.py, torch) against rlhfc's
// (runtime/rl/odin.ts, TensorFlow.js) on the same inputs: the loss, its parts and its gradients.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, expect, it } from 'vitest';
import { odinRewardLoss } from '../../runtime/rl/odin.ts';
import { describeInterop, pyJson } from './python.ts';

const EXPORT_PY = 'compiler/export/trl/py';

/** Seeded inputs: B pairs, heads of width C. */
function inputs(seed: number, B: number, C: number) {
  let s = seed;
  const r = () => ((s = (s * 1664525 + 1013904223) % 4294967296) / 4294967296) * 2 - 1;
  const v = (n: number) => Array.from({ length: n }, r);
  const lens = (n: number) => Array.from({ length: n }, () => Math.round(3 + 10 * (r() + 1)));
  return { qc: v(B), qr: v(B), lc: v(B), lr: v(B), nc: lens(B), nr: lens(B), wq: v(C), wl: v(C), margin: v(B).map((x) => (x > 0 ? x : 0)) };
}
type Case = ReturnType<typeof inputs> & { correlation: number; orthogonality: number; centering: number };

const CASES: Case[] = [
  { ...inputs(1, 8, 16), correlation: 1, orthogonality: 1, centering: 0 },
  { ...inputs(2, 5, 4), correlation: 0.3, orthogonality: 2, centering: 0.01 },
  { ...inputs(3, 16, 32), correlation: 2.5, orthogonality: 0, centering: 0 },
];

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** rlhfc's loss, parts and gradients w.r.t. (qc, qr, lc, lr, wq, wl). */
function ours(c: Case) {
  return tf.tidy(() => {
    const parts: number[] = [];
    const f = (qc: tf.Tensor, qr: tf.Tensor, lc: tf.Tensor, lr: tf.Tensor, wq: tf.Tensor, wl: tf.Tensor) => {
      const o = odinRewardLoss(
        { qualityChosen: qc as tf.Tensor1D, qualityRejected: qr as tf.Tensor1D, lengthChosen: lc as tf.Tensor1D, lengthRejected: lr as tf.Tensor1D, tokensChosen: tf.tensor1d(c.nc), tokensRejected: tf.tensor1d(c.nr), qualityHead: wq, lengthHead: wl, margin: tf.tensor1d(c.margin) },
        { correlation: c.correlation, orthogonality: c.orthogonality },
        c.centering,
      );
      parts.push(...[o.loss, o.rank, o.qualityCorr, o.lengthCorr, o.dot].map((t) => t.dataSync()[0]));
      return o.loss;
    };
    const g = tf.grads(f as (...xs: tf.Tensor[]) => tf.Tensor)([c.qc, c.qr, c.lc, c.lr, c.wq, c.wl].map((x) => tf.tensor1d(x)));
    return { parts: parts.slice(0, 5), grads: g.map((t) => Array.from(t.dataSync())) };
  });
}

describeInterop('interop: the exported ODIN loss equals rlhfc\'s', () => {
  it('loss, parts and gradients on the same inputs (float64 torch vs float32 tfjs)', { timeout: 120_000 }, () => {
    const py = pyJson<{ parts: number[]; grads: number[][] }[]>(`import json, sys
sys.path.insert(0, ${JSON.stringify(EXPORT_PY)})
import torch
from rlhf_export.odin import odin_loss
out = []
for c in json.loads(${JSON.stringify(JSON.stringify(CASES))}):
    t = {k: torch.tensor(c[k], dtype=torch.float64, requires_grad=True) for k in ("qc", "qr", "lc", "lr", "wq", "wl")}
    p = odin_loss(t["qc"], t["qr"], t["lc"], t["lr"], torch.tensor(c["nc"]), torch.tensor(c["nr"]), t["wq"], t["wl"],
                  c["correlation"], c["orthogonality"], torch.tensor(c["margin"], dtype=torch.float64), c["centering"])
    p["loss"].backward()
    out.append({"parts": [p[k].item() for k in ("loss", "rank", "quality_corr", "length_corr", "dot")],
                 "grads": [t[k].grad.tolist() for k in ("qc", "qr", "lc", "lr", "wq", "wl")]})
print(json.dumps(out))`);
    CASES.forEach((c, i) => {
      const o = ours(c);
      o.parts.forEach((v, k) => expect(v, `case ${i} part ${k}`).toBeCloseTo(py[i].parts[k], 4));
      o.grads.forEach((g, k) => g.forEach((v, j) => expect(Math.abs(v - py[i].grads[k][j]), `case ${i} grad ${k}[${j}]`).toBeLessThan(1e-4 + 1e-4 * Math.abs(v))));
      expect(o.grads.flat().some((x) => Math.abs(x) > 1e-3)).toBe(true);
    });
  });
});
