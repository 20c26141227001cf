// The MLP activations a GPT-2 config.json may name (`activation_function`), as transformers'
// ACT2FN computes them (transformers/activations.py). A name not listed here is refused when the
// folder is loaded (runtime/hf-checkpoint.ts), never silently replaced by another function.

import * as tf from '@tensorflow/tfjs';
import { gelu } from './ops.ts';
import { ACTIVATION_NAMES } from './activation-names.ts';

const SQRT1_2 = Math.SQRT1_2;

/** GELU with the exact erf: 0.5·x·(1 + erf(x/√2)) (transformers `gelu`, `gelu_python`). */
function geluErf(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, SQRT1_2))));
}

export const ACTIVATIONS: Record<string, (x: tf.Tensor) => tf.Tensor> = {
  // tanh approximation 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))): GPT-2's own, and its aliases
  gelu_new: gelu,
  gelu_fast: gelu,
  gelu_pytorch_tanh: gelu,
  gelu_python_tanh: gelu,
  gelu_accurate: gelu,
  gelu: geluErf,
  gelu_python: geluErf,
  gelu_10: (x) => tf.clipByValue(geluErf(x), -10, 10),
  quick_gelu: (x) => tf.mul(x, tf.sigmoid(tf.mul(x, 1.702))),
  relu: (x) => tf.relu(x),
  relu6: (x) => tf.clipByValue(x, 0, 6),
  relu2: (x) => tf.square(tf.relu(x)),
  leaky_relu: (x) => tf.leakyRelu(x, 0.01),
  silu: (x) => tf.mul(x, tf.sigmoid(x)),
  swish: (x) => tf.mul(x, tf.sigmoid(x)),
  mish: (x) => tf.mul(x, tf.tanh(tf.softplus(x))),
  sigmoid: (x) => tf.sigmoid(x),
  tanh: (x) => tf.tanh(x),
  linear: (x) => x,
};

for (const n of ACTIVATION_NAMES) if (!ACTIVATIONS[n]) throw new Error(`activation ${n} is listed but not implemented`);

export const DEFAULT_ACTIVATION = 'gelu_new';

export function activation(name: string | undefined): (x: tf.Tensor) => tf.Tensor {
  const f = ACTIVATIONS[name ?? DEFAULT_ACTIVATION];
  if (!f) throw new Error(`unsupported activation_function ${JSON.stringify(name)} (supported: ${Object.keys(ACTIVATIONS).join(', ')})`);
  return f;
}
