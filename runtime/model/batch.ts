// What the model reads: a collated batch as typed arrays (made by runtime/train/examples.ts's
// `collate`) and the same batch as tensors.

import * as tf from '@tensorflow/tfjs';

/** A collated batch: B rows of T positions, flattened row-major. */
export interface Batch {
  B: number;
  T: number;
  ids: Int32Array; // [B*T] model inputs
  /** 1 for real tokens, 0 for padding. */
  mask: Float32Array;
  /** With shift: targets[t] = the row's next token after input t (pad where none). */
  targets: Int32Array;
  /** With shift: 1 where targets[t] counts in the loss. */
  targetsMask: Float32Array;
  /** Segment ids for packed rows (else all 0). */
  segments: Int32Array;
  /** Per row: index of the last real input token. */
  lastIndex: Int32Array;
}

/** A batch as tensors (what `toTensors` makes from a `Batch`). */
export interface TensorBatch {
  ids: tf.Tensor2D;
  mask: tf.Tensor2D;
  targets: tf.Tensor2D;
  targetsMask: tf.Tensor2D;
  segments?: tf.Tensor2D;
  lastIndex?: tf.Tensor1D;
}

/** Tensors for a collated batch (create inside tf.tidy / variableGrads so they are freed). */
export function toTensors(b: Batch): TensorBatch {
  const s: [number, number] = [b.B, b.T];
  return {
    ids: tf.tensor2d(b.ids, s, 'int32'),
    mask: tf.tensor2d(b.mask, s, 'float32'),
    targets: tf.tensor2d(b.targets, s, 'int32'),
    targetsMask: tf.tensor2d(b.targetsMask, s, 'float32'),
    segments: b.segments.some((x) => x !== 0) ? tf.tensor2d(b.segments, s, 'int32') : undefined,
    lastIndex: tf.tensor1d(b.lastIndex, 'int32'),
  };
}

export const asTensors = (b: Batch | TensorBatch): TensorBatch => (b.ids instanceof tf.Tensor ? (b as TensorBatch) : toTensors(b as Batch));
