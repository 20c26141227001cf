// Log-softmax at the targets as two kernels of a backend (native: runtime/native; webgpu:
// runtime/webgpu): the forward kernel returns each position's log-prob and its row's log-sum-exp,
// which the backward kernel reuses, so the [.., V] log-softmax is never materialised.

import * as tf from '@tensorflow/tfjs';

/** logits [..., V] at integer targets [...] → log-probs [...], through the named forward and backward kernels. */
export function logProbByKernels(forward: string, backward: string): (logits: tf.Tensor, targets: tf.Tensor) => tf.Tensor {
  const run = (name: string, inputs: tf.NamedTensorMap) => tf.engine().runKernel(name, inputs);
  return (logits, targets) => {
    const t = targets.dtype === 'int32' ? targets : tf.cast(targets, 'int32');
    const f = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
      const [y, lse] = run(forward, { x, targets: t }) as tf.Tensor[];
      save([x, t, lse]);
      return {
        value: y,
        gradFunc: (dy: tf.Tensor, s: tf.Tensor[]) => run(backward, { x: s[0], targets: s[1], lse: s[2], dy }) as tf.Tensor,
      };
    }) as never) as (x: tf.Tensor) => tf.Tensor;
    return f(logits);
  };
}
