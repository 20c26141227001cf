// Helpers built on one-hot rows work when the axis they index has size 1 (tfjs's oneHot refuses a
// depth below 2): a one-token sequence's reward, a single class, a one-entry table.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { embed, logProbOf, oneHot, pick } from '../../../runtime/model/ops.ts';
import { maxAbsDiff, tinyModel, tok, useCpu } from '../helpers.ts';

beforeAll(useCpu);

describe('one-hot helpers over an axis of size 1', () => {
  it('GPT.rewards reads a one-token sequence: the score head on its only hidden state', () => {
    const m = tinyModel({}, 3, ['reward']);
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const ids = tf.tensor2d([[tok.encode('a')[0]], [tok.encode('b')[0]]], [2, 1], 'int32');
      const mask = tf.ones([2, 1]);
      const r = m.rewards(ids, mask, tf.tensor1d([0, 0], 'int32'));
      expect(r.shape).toEqual([2]);
      const h = m.hidden(ids, mask).arraySync() as number[][][];
      const w = m.w('score.weight').dataSync();
      const want = [0, 1].map((i) => h[i][0].reduce((s, x, j) => s + x * w[j], 0));
      expect(maxAbsDiff(r.dataSync(), want)).toBeLessThan(1e-5);
    });
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });

  it('oneHot, pick, logProbOf and embed with one entry, values and gradients', () => {
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      expect(oneHot(tf.tensor1d([0, 0, 0], 'int32'), 1).arraySync()).toEqual([[1], [1], [1]]);
      const x = tf.tensor3d([[[2.5], [-1]]]); // [1, 2, 1]
      const idx = tf.tensor2d([[0, 0]], [1, 2], 'int32');
      expect(pick(x, idx).arraySync()).toEqual([[2.5, -1]]);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(pick(t, idx), tf.tensor2d([[3, 4]]))))(x);
      expect(g.arraySync()).toEqual([[[3], [4]]]);
      // A single class has log-probability 0.
      expect(maxAbsDiff(logProbOf(x, idx).dataSync(), [0, 0])).toBeLessThan(1e-6);
      // A one-row table: every id reads row 0, and its gradient is the sum of the upstream rows.
      const table = tf.tensor2d([[1, 2]]);
      const ids = tf.tensor1d([0, 0, 0], 'int32');
      expect(embed(table, ids).arraySync()).toEqual([[1, 2], [1, 2], [1, 2]]);
      const dt = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(embed(t as tf.Tensor2D, ids), tf.tensor2d([[1, 0], [2, 0], [3, 1]]))))(table);
      expect(dt.arraySync()).toEqual([[6, 1]]);
    });
    expect(tf.memory().numTensors).toBe(before);
  });
});
