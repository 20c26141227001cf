// The training loop shared by pretrain, sft, reward and dpo: micro-batches accumulated into one
// optimizer step, global-norm clipping, the learning-rate schedule, periodic evaluation and
// metrics, and a stop at the next step boundary when the run is interrupted.

import * as tf from '@tensorflow/tfjs';
import { accumulateGrads, clipByGlobalNorm, learningRate, type AdamW } from '../optim.ts';
import type { Reporter } from '../reporter.ts';
import { UserError, diag } from '../../compiler/diagnostics.ts';

export interface LoopOptions<B> {
  /** Trainable variables by name (the optimizer's keys). */
  params: Map<string, tf.Variable>;
  optimizer: AdamW;
  lrAt: (step: number) => number;
  gradClip: number;
  gradAccum: number;
  totalSteps: number;
  nextBatch: () => B;
  /** Loss of one micro-batch (called inside tf.variableGrads). */
  loss: (b: B) => tf.Scalar;
  /** Tokens a micro-batch contributes (for tokens/s). */
  tokens: (b: B) => number;
  evaluate?: () => Promise<Record<string, number>>;
  evalEvery: number;
  logEvery: number;
  reporter: Reporter;
  signal: AbortSignal;
}

export interface LoopResult {
  steps: number;
  /** Mean training loss over the last logging window. */
  trainLoss: number;
  /** Training loss of the first logging window (to show the fall). */
  firstLoss: number;
  eval: Record<string, number>;
  seconds: number;
  interrupted: boolean;
}

/** The learning-rate function of an `optimizer { ... }` block for a run of `totalSteps`. */
export function lrSchedule(o: Record<string, unknown>, totalSteps: number): (step: number) => number {
  return (step) =>
    learningRate(step, {
      kind: o['schedule'] as 'constant' | 'linear' | 'cosine',
      lr: o['lr'] as number,
      warmupSteps: o['warmup_steps'] as number,
      minLrRatio: o['min_lr_ratio'] as number,
      totalSteps,
    });
}

export async function trainLoop<B>(o: LoopOptions<B>): Promise<LoopResult> {
  const started = performance.now();
  let windowLoss = 0;
  let windowN = 0;
  let windowTokens = 0;
  let windowStart = performance.now();
  let firstLoss = NaN;
  let trainLoss = NaN;
  let lastEval: Record<string, number> = {};
  o.reporter.start(o.totalSteps);
  let step = 0;
  for (; step < o.totalSteps; step++) {
    if (o.signal.aborted) break;
    const lr = o.lrAt(step);
    const batches = Array.from({ length: o.gradAccum }, () => o.nextBatch());
    const { loss, grads } = accumulateGrads(o.params, o.gradAccum, (i) => o.loss(batches[i]));
    if (!Number.isFinite(loss)) {
      tf.dispose([...grads.values()]);
      throw new UserError([diag('RLHF9002', `loss is ${loss} at step ${step + 1}: training diverged (try a lower optimizer.lr or a grad_clip)`)]);
    }
    for (const b of batches) windowTokens += o.tokens(b);
    const norm = clipByGlobalNorm(grads, o.gradClip > 0 ? o.gradClip : Infinity);
    o.optimizer.apply(grads, lr);
    tf.dispose([...grads.values()]);

    windowLoss += loss;
    windowN++;
    o.reporter.tick(step + 1, { loss: windowLoss / windowN });
    const isLast = step + 1 === o.totalSteps;
    const doEval = o.evaluate && ((o.evalEvery > 0 && (step + 1) % o.evalEvery === 0) || isLast);
    if (doEval) lastEval = await o.evaluate!();
    if ((step + 1) % o.logEvery === 0 || isLast || doEval) {
      const secs = (performance.now() - windowStart) / 1000;
      trainLoss = windowLoss / windowN;
      if (Number.isNaN(firstLoss)) firstLoss = trainLoss;
      o.reporter.log({
        step: step + 1,
        loss: trainLoss,
        lr,
        grad_norm: norm,
        tokens_per_s: windowTokens / Math.max(secs, 1e-9),
        ...(doEval ? lastEval : {}),
      });
      windowLoss = 0;
      windowN = 0;
      windowTokens = 0;
      windowStart = performance.now();
    }
  }
  o.reporter.stop();
  return { steps: step, trainLoss, firstLoss, eval: lastEval, seconds: (performance.now() - started) / 1000, interrupted: step < o.totalSteps };
}
