// The training loop of every training stage, in two pieces:
//   runSteps   the step driver: resume from a checkpoint, progress, a stop at the next step boundary
//              when the run is interrupted (after saving a checkpoint, so nothing done is lost), and
//              periodic checkpoints; used by trainLoop and by the on-policy loop (on-policy.ts).
//   optimizerStep  one update of an `optimizer { ... }` block: global-norm clipping, the learning
//              rate of the schedule at that step, AdamW.
// trainLoop (pretrain, sft, reward, dpo) adds micro-batches accumulated into one optimizer step,
// periodic evaluation and metrics.

import * as tf from '@tensorflow/tfjs';
import { accumulateGrads, clipByGlobalNorm, learningRate, type AdamW } from '../optim.ts';
import type { Reporter } from '../reporter.ts';
import { UserError, diag } from '../../core/diagnostics.ts';
import { Interrupted, letSignalsIn, type Checkpoints } from './resume.ts';
import type { OptimizerParams } from './params.ts';

/** What one optimizer step needs: the trainable variables, AdamW, the schedule and the clipping norm. */
export interface OptimizerParts {
  /** Trainable variables by name (the optimizer's keys). */
  params: Map<string, tf.Variable>;
  optimizer: AdamW;
  lrAt: (step: number) => number;
  gradClip: number;
}

/**
 * One update with `grads` at loop step `step` (0-based): clip to the global norm, apply AdamW with the
 * schedule's learning rate, free the grads. Returns the norm before clipping and the rate used.
 */
export async function optimizerStep(o: OptimizerParts, grads: Map<string, tf.Tensor>, step: number): Promise<{ gradNorm: number; lr: number }> {
  const lr = o.lrAt(step);
  const norm = clipByGlobalNorm(grads, o.gradClip > 0 ? o.gradClip : Infinity);
  o.optimizer.apply(grads, lr);
  tf.dispose([...grads.values()]);
  return { gradNorm: await norm, lr };
}

/** The learning-rate function of an `optimizer { ... }` block for a run of `totalSteps`. */
export function lrSchedule(o: OptimizerParams, totalSteps: number): (step: number) => number {
  return (step) => learningRate(step, { kind: o.schedule, lr: o.lr, warmupSteps: o.warmup_steps, minLrRatio: o.min_lr_ratio, totalSteps });
}

export interface StepsOptions<S extends Record<string, unknown>> {
  totalSteps: number;
  reporter: Reporter;
  signal: AbortSignal;
  /** Resume from / save resumable checkpoints (absent: no checkpoints). */
  checkpoints?: Checkpoints;
  /** The loop's own state (plain JSON), saved in checkpoints and handed back on resume. */
  state: () => S;
  /** Take back the state of a checkpoint saved after `step` steps (replay data positions here). */
  restore: (saved: S, step: number) => void;
  /** What the progress bar shows after a resume. */
  progress: () => Record<string, number>;
  /** One step (0-based); it ticks the progress bar and logs its metrics itself. */
  step: (step: number) => Promise<void>;
}

/** Run steps [resumed step, totalSteps): resume, interruption, checkpoints; returns where it started. */
export async function runSteps<S extends Record<string, unknown>>(o: StepsOptions<S>): Promise<{ steps: number; resumedFrom: number }> {
  let step = 0;
  const resumed = await o.checkpoints?.load(o.totalSteps); // a step beyond the stage is damage
  if (resumed) {
    step = resumed.step;
    o.restore(resumed.extra as S, step);
    o.reporter.resumed(step, o.totalSteps);
  }
  const resumedFrom = step;
  o.reporter.start(o.totalSteps);
  if (step > 0) o.reporter.tick(step, o.progress());
  let yielded = performance.now();
  for (; step < o.totalSteps; step++) {
    // A step is synchronous work: let the event loop run now and then so that a SIGINT/SIGTERM handler
    // gets to abort the signal (else Ctrl-C would wait for the stage's end or its next checkpoint).
    if (performance.now() - yielded > 50) {
      await letSignalsIn();
      yielded = performance.now();
    }
    if (o.signal.aborted) {
      o.reporter.stop();
      throw o.checkpoints
        ? await o.checkpoints.interrupted({ step, extra: o.state() }, o.totalSteps, resumedFrom)
        : new Interrupted(step, o.totalSteps, undefined);
    }
    await o.step(step);
    if (o.checkpoints?.due(step + 1, o.totalSteps)) await o.checkpoints.save({ step: step + 1, extra: o.state() });
  }
  o.reporter.stop();
  return { steps: step, resumedFrom };
}

/** A metrics line is written every `logEvery` steps and at the last one. */
export const logDue = (step: number, logEvery: number, totalSteps: number) => (step + 1) % logEvery === 0 || step + 1 === totalSteps;

export interface LoopOptions<B> extends OptimizerParts {
  gradAccum: number;
  totalSteps: number;
  nextBatch: () => B;
  /** Loss of one micro-batch (called inside tf.variableGrads). */
  loss: (b: B) => tf.Scalar;
  /** Work on a batch before its step that reads tensors (asynchronously), e.g. kto's reference point. */
  prepare?: (b: B) => Promise<void>;
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

/** Supervised training: micro-batches accumulated into each optimizer step, evaluation and metrics. */
export async function trainLoop<B>(o: LoopOptions<B>): Promise<LoopResult> {
  const started = performance.now();
  // Everything that must survive a restart for the run to continue exactly; saved in checkpoints.
  let st = { windowLoss: 0, windowN: 0, windowTokens: 0, firstLoss: NaN, trainLoss: NaN, lastEval: {} as Record<string, number> };
  let windowStart = performance.now();
  const { steps, resumedFrom } = await runSteps({
    totalSteps: o.totalSteps,
    reporter: o.reporter,
    signal: o.signal,
    checkpoints: o.checkpoints,
    state: () => st,
    restore: (e, step) => {
      st = { ...e, firstLoss: e.firstLoss ?? NaN, trainLoss: e.trainLoss ?? NaN };
      // The data position: replay the batch order up to the checkpoint (no tensor work).
      for (let i = 0; i < step * o.gradAccum; i++) o.nextBatch();
    },
    progress: () => ({ loss: st.trainLoss }),
    step: async (step) => {
      const batches = Array.from({ length: o.gradAccum }, () => o.nextBatch());
      if (o.prepare) for (const b of batches) await o.prepare(b);
      const { loss: lossRead, grads } = accumulateGrads(o.params, o.gradAccum, (i) => o.loss(batches[i]));
      for (const b of batches) st.windowTokens += o.tokens(b);
      // read after the update is queued (no read in the middle of the step on a GPU); a diverged
      // step's update is never saved: the stage fails here
      const { gradNorm, lr } = await optimizerStep(o, grads, step);
      const loss = await lossRead;
      if (!Number.isFinite(loss)) {
        throw new UserError([diag('RLHF9002', `loss is ${loss} at step ${step + 1}: training diverged (try a lower optimizer.lr or a grad_clip)`)]);
      }

      st.windowLoss += loss;
      st.windowN++;
      o.reporter.tick(step + 1, { loss: st.windowLoss / st.windowN });
      const isLast = step + 1 === o.totalSteps;
      const doEval = o.evaluate && ((o.evalEvery > 0 && (step + 1) % o.evalEvery === 0) || isLast);
      if (doEval) st.lastEval = await o.evaluate!();
      if (logDue(step, o.logEvery, o.totalSteps) || doEval) {
        const secs = (performance.now() - windowStart) / 1000;
        st.trainLoss = st.windowLoss / st.windowN;
        if (Number.isNaN(st.firstLoss)) st.firstLoss = st.trainLoss;
        o.reporter.log({
          step: step + 1,
          loss: st.trainLoss,
          lr,
          grad_norm: gradNorm,
          tokens_per_s: st.windowTokens / Math.max(secs, 1e-9),
          ...(doEval ? st.lastEval : {}),
        });
        st.windowLoss = 0;
        st.windowN = 0;
        st.windowTokens = 0;
        windowStart = performance.now();
      }
    },
  });
  return { steps, trainLoss: st.trainLoss, firstLoss: st.firstLoss, eval: st.lastEval, seconds: (performance.now() - started) / 1000, resumedFrom };
}
