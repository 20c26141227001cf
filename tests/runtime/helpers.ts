// Shared fixtures for the runtime-*.test.ts files: tiny models on real text.
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { GPT, type GPTConfig } from '../../runtime/model/gpt.ts';
import { CharTokenizer } from '../../runtime/tokenizers/index.ts';
import { collate, type Row } from '../../runtime/train/examples.ts';

/** Opening lines of the Gettysburg Address. */
export const TEXT = [
  'Four score and seven years ago our fathers brought forth on this continent, a new nation,',
  'conceived in Liberty, and dedicated to the proposition that all men are created equal.',
  'Now we are engaged in a great civil war, testing whether that nation, or any nation so conceived',
  'and so dedicated, can long endure.',
];

export const tok = CharTokenizer.train(TEXT);

export function tinyConfig(over: Partial<GPTConfig> = {}): GPTConfig {
  return { vocabSize: tok.vocabSize, context: 32, width: 16, layers: 2, heads: 2, dropout: 0, ...over };
}

export function tinyModel(over: Partial<GPTConfig> = {}, seed = 1, heads: ('value' | 'reward')[] = []): GPT {
  return new GPT(tinyConfig(over), { seed, heads });
}

/** Language-modelling rows cut from the text: `n` rows of `len + 1` tokens. */
export function lmRows(n: number, len: number): Row[] {
  const ids = tok.encode(TEXT.join(' '));
  return Array.from({ length: n }, (_, i) => {
    const s = ids.slice(i * len, i * len + len + 1);
    return { ids: s, loss: s.map((_, j) => (j > 0 ? 1 : 0)) };
  });
}

export function lmBatch(n: number, len: number) {
  return collate(lmRows(n, len), tok.padId);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

/** Compare analytic grads with central differences (float32: eps 1e-2) at the largest-gradient entry and one fixed entry. */
export function gradCheck(vars: tf.Variable[], lossFn: () => tf.Scalar): number {
  const loss = () => tf.tidy(() => lossFn().dataSync()[0]);
  const { value, grads } = tf.variableGrads(lossFn, vars);
  value.dispose();
  let checked = 0;
  for (const v of vars) {
    const g = grads[v.name].dataSync();
    const data = v.dataSync().slice();
    let big = 0;
    for (let i = 0; i < g.length; i++) if (Math.abs(g[i]) > Math.abs(g[big])) big = i;
    expect(Math.abs(g[big]), `${v.name} has a non-zero gradient`).toBeGreaterThan(1e-4);
    for (const i of new Set([big, Math.floor(g.length / 3)])) {
      const eps = 1e-2;
      const at = (x: number) => {
        const d = data.slice();
        d[i] = x;
        tf.tidy(() => v.assign(tf.tensor(d, v.shape)));
        return loss();
      };
      const fd = (at(data[i] + eps) - at(data[i] - eps)) / (2 * eps);
      at(data[i]);
      const tol = 1e-2 * Math.max(Math.abs(fd), Math.abs(g[i])) + 2e-3;
      expect(Math.abs(fd - g[i]), `${v.name}[${i}] fd=${fd} analytic=${g[i]}`).toBeLessThan(tol);
      checked++;
    }
  }
  tf.dispose(grads);
  return checked;
}

/** Larger weights than init so the loss is not flat. */
export function perturb(vars: Iterable<tf.Variable>, seed: number): void {
  for (const v of vars) tf.tidy(() => v.assign(tf.add(v, tf.randomNormal(v.shape, 0, 0.3, 'float32', seed))));
}
