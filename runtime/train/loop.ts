// The training loop shared by pretrain, sft, reward and dpo: micro-batches accumulated into one
// optimizer step, global-norm clipping, the learning-rate schedule, periodic evaluation and
// metrics, resumable checkpoints, and a stop at the next step boundary when the run is interrupted
// (after saving a checkpoint, so that nothing done is lost).

import * as tf from '@tensorflow/tfjs';
import { accumulateGrads, clipByGlobalNorm, learningRate, type AdamW } from '../optim.ts';
import type { Reporter } from '../reporter.ts';
import { UserError, diag } from '../../compiler/diagnostics.ts';
import { Interrupted, type Checkpoints } from './checkpoints.ts';

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
  /** Resume from / save resumable checkpoints (absent: no checkpoints). */
  checkpoints?: Checkpoints;
}

export interface LoopResult {
  steps: number;
  /** Mean training loss over the last logging window. */
  trainLoss: number;
  /** Training loss of the first logging window (to show the fall). */
  firstLoss: number;
  eval: Record<string, number>;
  seconds: number;
  /** Step the loop resumed from (0: a fresh start). */
  resumedFrom: number;
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
  // Everything that must survive a restart for the run to continue exactly; saved in checkpoints.
  let st = { windowLoss: 0, windowN: 0, windowTokens: 0, firstLoss: NaN, trainLoss: NaN, lastEval: {} as Record<string, number> };
  let windowStart = performance.now();
  let step = 0;
  const resumed = await o.checkpoints?.load(o.totalSteps);
  if (resumed) {
    step = resumed.step;
    const e = resumed.extra as typeof st;
    st = { ...e, firstLoss: e.firstLoss ?? NaN, trainLoss: e.trainLoss ?? NaN };
    // The data position: replay the batch order up to the checkpoint (no tensor work).
    for (let i = 0; i < step * o.gradAccum; i++) o.nextBatch();
    o.reporter.note(`resumed from the checkpoint at step ${step}/${o.totalSteps}`);
  }
  const resumedFrom = step;
  o.reporter.start(o.totalSteps);
  if (step > 0) o.reporter.tick(step, { loss: st.trainLoss });
  for (; step < o.totalSteps; step++) {
    if (o.signal.aborted) {
      o.reporter.stop();
      throw o.checkpoints ? await o.checkpoints.interrupted({ step, extra: st }, o.totalSteps, resumedFrom) : new Interrupted(step, o.totalSteps, undefined);
    }
    const lr = o.lrAt(step);
    const batches = Array.from({ length: o.gradAccum }, () => o.nextBatch());
    const { loss, grads } = accumulateGrads(o.params, o.gradAccum, (i) => o.loss(batches[i]));
    if (!Number.isFinite(loss)) {
      tf.dispose([...grads.values()]);
      throw new UserError([diag('RLHF9002', `loss is ${loss} at step ${step + 1}: training diverged (try a lower optimizer.lr or a grad_clip)`)]);
    }
    for (const b of batches) st.windowTokens += o.tokens(b);
    const norm = clipByGlobalNorm(grads, o.gradClip > 0 ? o.gradClip : Infinity);
    o.optimizer.apply(grads, lr);
    tf.dispose([...grads.values()]);

    st.windowLoss += loss;
    st.windowN++;
    o.reporter.tick(step + 1, { loss: st.windowLoss / st.windowN });
    const isLast = step + 1 === o.totalSteps;
    const doEval = o.evaluate && ((o.evalEvery > 0 && (step + 1) % o.evalEvery === 0) || isLast);
    if (doEval) st.lastEval = await o.evaluate!();
    if ((step + 1) % o.logEvery === 0 || isLast || doEval) {
      const secs = (performance.now() - windowStart) / 1000;
      st.trainLoss = st.windowLoss / st.windowN;
      if (Number.isNaN(st.firstLoss)) st.firstLoss = st.trainLoss;
      o.reporter.log({
        step: step + 1,
        loss: st.trainLoss,
        lr,
        grad_norm: norm,
        tokens_per_s: st.windowTokens / Math.max(secs, 1e-9),
        ...(doEval ? st.lastEval : {}),
      });
      st.windowLoss = 0;
      st.windowN = 0;
      st.windowTokens = 0;
      windowStart = performance.now();
    }
    if (o.checkpoints?.due(step + 1, o.totalSteps)) await o.checkpoints.save({ step: step + 1, extra: st });
  }
  o.reporter.stop();
  return { steps: step, trainLoss: st.trainLoss, firstLoss: st.firstLoss, eval: st.lastEval, seconds: (performance.now() - started) / 1000, resumedFrom };
}
