// The freeing backward pass (runtime/gradients.ts) against tfjs's own engine.gradients: the same
// gradients bit for bit, fewer live tensors while it runs, and nothing left behind.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import '../../runtime/model/ops.ts'; // installs it
import { lmBatch, tinyModel } from './helpers.ts';

type Grads = (f: () => tf.Tensor, xs: tf.Tensor[]) => { value: tf.Tensor; grads: tf.Tensor[] };
const engine = tf.engine() as unknown as { gradients: Grads; tfjsGradients: Grads; freeingGradients?: boolean };

describe('freeing backward pass', () => {
  it('is installed, and gives the same loss and gradients as tfjs on a GPT (bit for bit), with fewer live tensors at the end of the backward pass', async () => {
    await tf.setBackend('cpu');
    expect(engine.freeingGradients).toBe(true);
    const m = tinyModel({}, 3, ['value']);
    const vars = [...m.weights.values()];
    const batch = lmBatch(2, 12);
    // an identity at the embedding output whose gradient runs last: it counts the live tensors then
    let liveAtEnd = 0;
    const probe = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
      save([]);
      return { value: tf.clone(x), gradFunc: (dy: tf.Tensor) => { liveAtEnd = tf.memory().numTensors; return [tf.clone(dy)]; } };
    }) as never) as (x: tf.Tensor) => tf.Tensor;
    const run = (g: Grads) => {
      const before = tf.memory().numTensors;
      const { value, grads } = g(() => tf.add(m.lmLoss(batch, { training: true }), tf.sum(probe(vars[0]))) as tf.Scalar, vars);
      const out = { loss: value.dataSync()[0], grads: grads.map((t) => (t ? Array.from(t.dataSync()) : null)), live: liveAtEnd };
      tf.dispose([value, ...grads.filter((t) => t)]);
      expect(tf.memory().numTensors).toBe(before);
      return out;
    };
    const ours = run(engine.gradients);
    const theirs = run(engine.tfjsGradients);
    expect(ours.loss).toBe(theirs.loss);
    expect(ours.grads).toEqual(theirs.grads);
    expect(ours.live).toBeLessThan(theirs.live);
    m.dispose();
  });

  it('handles a gradient function that hands dy on unchanged, a tensor used twice, and a caller-given dy', async () => {
    await tf.setBackend('cpu');
    const pass = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
      save([]);
      return { value: tf.mul(x, 1), gradFunc: (dy: tf.Tensor) => [dy] };
    }) as never) as (x: tf.Tensor) => tf.Tensor;
    const x = tf.tensor([1, 2, 3]);
    const before = tf.memory().numTensors;
    const g = tf.grad((a: tf.Tensor) => { const p = pass(a); return tf.sum(tf.mul(p, p)); })(x);
    expect(Array.from(g.dataSync())).toEqual([2, 4, 6]);
    const dy = tf.tensor([1, 10, 100]);
    const g2 = tf.grad((a: tf.Tensor) => tf.mul(pass(a), 3))(x, dy);
    expect(Array.from(g2.dataSync())).toEqual([3, 30, 300]);
    expect(dy.isDisposed).toBe(false);
    tf.dispose([g, g2, dy]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});
