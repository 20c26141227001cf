// Shared fixtures for the runtime-*.test.ts files: tiny models on real text.
import * as tf from '@tensorflow/tfjs';
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
