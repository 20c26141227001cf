// The one on-policy loop, which ppo, grpo and rloo run on. Per step: the next prompts (an endless,
// seeded cycle) → rollouts (each prompt answered by the current policy, every answer scored by each
// reward source) → per-token log-probs of the sampling policy (and its values when it has a value
// head) and of the frozen reference → the algorithm's advantages → passes of shuffled mini-batches,
// one optimizer update each, through the algorithm's loss → the step's metrics, logged with samples.
// Resume, checkpoints and interruption are the step driver's (train/loop.ts). An algorithm supplies
// only what makes it itself (train/ppo-trainer.ts, train/group-rl.ts).

import * as tf from '@tensorflow/tfjs';
import { shuffle } from '../data/split.ts';
import type { CausalLM } from '../model/causal-lm.ts';
import { toTensors, type Batch } from '../model/batch.ts';
import { accumulateGrads } from '../optim.ts';
import { readScalars } from '../tensor-backend.ts';
import type { DatasetArtifact, StageContext, StageOutcome } from '../stage-context.ts';
import { correlation, degenerationStats } from '../text-stats.ts';
import { openLM } from './lm.ts';
import { logDue, optimizerStep, runSteps, type OptimizerParts } from './loop.ts';
import type { GenerationParams, LoraParams, OptimizerParams, RlStepLoggingParams } from './params.ts';
import { lengthReward, type LengthShaping } from '../rl/length.ts';
import { openReference, type Reference } from './reference.ts';
import { rollout, rowsOf, type Rollout } from './rollouts.ts';
import { openScorer, type Scorer } from './scorer.ts';

/** The parameters the loop reads (every on-policy stage's schema has them). */
export interface OnPolicyParams extends RlStepLoggingParams {
  steps: number;
  /** Answers generated per step (ppo: one per prompt). */
  batch_size: number;
  /** Answers per optimizer update. */
  mini_batch_size: number;
  max_prompt_length: number;
  /** Prompts through the tokenizer's chat template (the `chat_template` switch). */
  chat_template: boolean;
  generation: GenerationParams;
  /** Length shaping added to every answer's reward (rl/length.ts). */
  length: LengthShaping;
  /** The stage's `lora { ... }` block (null: train every weight). */
  lora: LoraParams | null;
  optimizer: OptimizerParams;
}

/** Per-token log-probs [B, T] (flat) of a rollout's batch, read once before the updates (no gradient). */
export interface RolloutLogProbs {
  /** Under the sampling policy. */
  old: Float32Array;
  /** The value head's estimates (when the algorithm has one). */
  values?: Float32Array;
  /** Under the reference (when the algorithm asks for one). */
  ref?: Float32Array;
}

/** A mini-batch (rows `idx` of the generation batch) inside the gradient tape. */
export interface MiniBatch {
  policy: CausalLM;
  /** The policy's hidden states of the rows, with dropout [n, T, C]. */
  hidden: tf.Tensor;
  /** Next-token targets [n, T] (int32). */
  targets: tf.Tensor2D;
  /** Response tokens that count [n, T]. */
  mask: tf.Tensor2D;
  /** Rows `idx` of a per-token [B, T] array of the generation batch, as a tensor [n, T]. */
  rows(a: Float32Array): tf.Tensor2D;
  idx: number[];
}

/**
 * What makes an on-policy algorithm itself; `S` is what it computes once per generation batch, `X`
 * its own state kept in checkpoints (plain JSON).
 */
export interface OnPolicyAlgorithm<S, X extends Record<string, unknown>> {
  /** Answers per prompt (ppo: 1; grpo/rloo: the group size). */
  answersPerPrompt: number;
  /** The inputs holding the reward sources, in order; `weights` sums them (default all 1). */
  rewardInputs: string[];
  weights?: number[];
  /** Leave answers that hit max_new_tokens without end-of-text out of the loss. */
  maskTruncated: boolean;
  /** A value head on the policy (ppo). */
  valueHead: boolean;
  /** Whether the reference log-probs are read (no reference model is loaded otherwise). */
  reference: boolean;
  /** Passes over each generation batch (ppo_epochs, num_iterations). */
  passes: number;
  /** Optimizer updates the learning-rate schedule runs over, and the schedule index of update `u` of pass `pass` at step `step`. */
  scheduleSteps: number;
  updateIndex(step: number, pass: number, u: number): number;
  /** The metric the progress bar and the headline follow ('score', 'reward'). */
  main: string;
  /** The middle of the stage's note: how a step is made and scored. */
  describe(scorers: Scorer[]): string;
  /** Advantages (and what else the loss needs) from a rollout and its log-probs. */
  prepare(ro: Rollout, lp: RolloutLogProbs): S;
  /** The loss of a mini-batch, and the scalars to log for it. */
  loss(m: MiniBatch, s: S): { loss: tf.Scalar; log: Record<string, tf.Tensor> };
  /** After an update: whether to stop after the current pass (ppo's kl.stop_at). */
  stopAfterPass?(logged: Record<string, number>): boolean;
  /** The step's end (e.g. a KL controller update) and its metrics, in log order, between `step` and the responses' statistics. */
  finish(ro: Rollout, s: S, stats: Record<string, number>): Record<string, number>;
  /** What a logged sample shows after its answer, e.g. '(score 0.512)'. */
  sampleNote(ro: Rollout, s: S, i: number): string;
  /** State beyond the loop's own kept in checkpoints, and how it comes back on resume. */
  state(): X;
  restore(saved: X): void;
  /** The stage's final metrics and headline from its first and last step's metrics. */
  outcome(first: Record<string, number> | undefined, last: Record<string, number>): StageOutcome;
}

export async function runOnPolicy<S, X extends Record<string, unknown>>(ctx: StageContext, p: OnPolicyParams, algo: OnPolicyAlgorithm<S, X>): Promise<StageOutcome> {
  const k = algo.answersPerPrompt;
  const B = p.batch_size;
  const policy = await openLM(ctx, { modelInput: 'policy', lora: p.lora, head: algo.valueHead ? 'value' : undefined });
  let reference: Reference | undefined;
  const scorers: Scorer[] = [];
  try {
    if (algo.reference) reference = await openReference(ctx, policy, { duringTraining: true, policyInput: 'policy' });
    for (const key of algo.rewardInputs) scorers.push(await openScorer(ctx, key));
    // Whole records: user reward functions receive each prompt's record (e.g. its reference answer).
    const prompts = (ctx.inputs['prompts'] as DatasetArtifact).train;
    if (prompts.length === 0) throw policy.dataError('the prompts dataset is empty');
    const tok = policy.tokenizer;
    const opt = policy.optimizerParts(p.optimizer, algo.scheduleSteps);
    const nextPrompts = promptCycle(prompts, B / k, `${ctx.seed}:${ctx.node.id}`);
    ctx.reporter.note(`${prompts.length} prompts, ${p.steps} steps of ${algo.describe(scorers)}; ${policy.describeTrainable()}`);
    let first: Record<string, number> | undefined;
    let last: Record<string, number> = {};
    const progress = () => ({ [algo.main]: last[algo.main], kl: last['kl'] });
    await runSteps({
      totalSteps: p.steps,
      reporter: ctx.reporter,
      signal: ctx.signal,
      checkpoints: policy.checkpoints(ctx, p.checkpoint_every),
      state: () => ({ ...algo.state(), first: first ?? null, last }),
      restore: (e, start) => {
        algo.restore(e);
        first = e.first ?? undefined;
        last = e.last;
        for (let s = 0; s < start; s++) nextPrompts();
      },
      progress,
      step: async (step) => {
        const t0 = performance.now();
        // 1. Answer each prompt k times; score every answer with every source.
        const ro = await rollout(policy.model, tok, nextPrompts(), k, {
          gen: p.generation,
          maxPromptLength: p.max_prompt_length,
          chat: p.chat_template,
          seed: ctx.seed * 1000003 + step,
          scorers,
          weights: algo.weights,
          maskTruncated: algo.maskTruncated,
          shaping: (n) => lengthReward(n, p.length, p.generation.max_new_tokens),
        });
        // 2. Log-probs (and values) of the sampling policy, the reference's; the algorithm's advantages.
        const lp: RolloutLogProbs = await tokenLogProbs(policy.model, ro.batch, algo.valueHead);
        if (reference) lp.ref = (await reference.use((m) => tokenLogProbs(m, ro.batch, false))).old;
        const s = algo.prepare(ro, lp);
        // 3. Passes of shuffled mini-batches, one optimizer update each.
        const stats = await optimise(policy.model, opt, p, algo, ro.batch, s, step, `${ctx.seed}:${step}`);
        // 4. The step's metrics and samples.
        const d = degenerationStats(ro.texts, ro.responseIds.map((r) => r.length));
        const lengths = ro.responseIds.map((r) => r.length);
        const shaped = p.length.overlong_cache > 0 || p.length.floor > 0;
        last = {
          step: step + 1,
          ...algo.finish(ro, s, stats),
          ...(shaped ? { length_reward: mean(ro.lengthRewards) } : {}),
          // the training-health monitor's inputs (runtime/health.ts): answers cut off, reward following length
          truncated_ratio: mean(ro.truncated.map((t) => (t ? 1 : 0))),
          reward_length_corr: correlation(ro.rewards, lengths),
          mean_words: d.words.mean,
          empty_rate: d.empty_rate,
          distinct_1: d.distinct_1,
          distinct_2: d.distinct_2,
          repetition_2: d.repetition_2,
          lr: opt.lrAt(algo.updateIndex(step, 0, 0)),
          seconds: (performance.now() - t0) / 1000,
        };
        first ??= last;
        const samples = Object.fromEntries(
          ro.texts.slice(0, p.samples).map((t, i) => [`sample_${i}`, `${JSON.stringify(ro.prompts[i])} → ${JSON.stringify(t)} ${algo.sampleNote(ro, s, i)}`]),
        );
        if (logDue(step, p.log_every, p.steps)) ctx.reporter.log({ ...last, ...samples });
        ctx.reporter.tick(step + 1, progress());
      },
    });
    await policy.save(`${ctx.outDir}/model`);
    return algo.outcome(first, last);
  } finally {
    for (const s of scorers) s.dispose();
    reference?.dispose();
    policy.dispose();
  }
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);

/** Endless batches of `n` prompt records, reshuffled every epoch (seeded by `salt` and the epoch). */
function promptCycle<T>(records: T[], n: number, salt: string): () => T[] {
  let order: T[] = [];
  let at = 0;
  let epoch = 0;
  return () => {
    const out: T[] = [];
    while (out.length < n) {
      if (at >= order.length) {
        order = shuffle(records, `${salt}:${epoch++}`);
        at = 0;
      }
      out.push(order[at++]);
    }
    return out;
  };
}

/** Per-token log-probs [B, T] of the batch's targets under `m` (no gradient), and its values when asked, as flat arrays. */
export async function tokenLogProbs(m: CausalLM, batch: Batch, values: boolean): Promise<RolloutLogProbs> {
  const out = tf.tidy(() => {
    const t = toTensors(batch);
    const h = m.hidden(t.ids, t.mask);
    const lp = m.logProbsFrom(h, t.targets);
    return values ? [lp, m.valuesFrom(h)] : [lp];
  });
  const [old, v] = (await Promise.all(out.map((x) => x.data()))) as Float32Array[];
  tf.dispose(out);
  return values ? { old, values: v } : { old };
}

/** The algorithm's passes of shuffled mini-batches over the generation batch; the mean of each logged scalar. */
async function optimise<S, X extends Record<string, unknown>>(
  policy: CausalLM,
  opt: OptimizerParts,
  p: OnPolicyParams,
  algo: OnPolicyAlgorithm<S, X>,
  batch: Batch,
  s: S,
  step: number,
  salt: string,
): Promise<Record<string, number>> {
  const { B, T } = batch;
  const mbs = p.mini_batch_size;
  const stats: Record<string, number[]> = {};
  let stop = false;
  for (let pass = 0; pass < algo.passes && !stop; pass++) {
    const perm = shuffle([...Array(B).keys()], `${salt}:${pass}`);
    for (let u = 0; u * mbs < B; u++) {
      const idx = perm.slice(u * mbs, (u + 1) * mbs);
      const n = idx.length;
      const rows = (a: Float32Array) => tf.tensor2d(rowsOf(a, idx, T), [n, T]);
      // the loss's scalars are kept out of the tape's tidy and read after the update is queued (no
      // synchronous read in the step: WebGPU has none)
      let loggedT: Record<string, tf.Tensor> = {};
      const { grads } = accumulateGrads(opt.params, 1, () => {
        const ids = tf.tensor2d(rowsOf(batch.ids, idx, T), [n, T], 'int32');
        const hidden = policy.hidden(ids, rows(batch.mask), { training: true });
        const targets = tf.tensor2d(rowsOf(batch.targets, idx, T), [n, T], 'int32');
        const r = algo.loss({ policy, hidden, targets, mask: rows(batch.targetsMask), rows, idx }, s);
        loggedT = Object.fromEntries(Object.entries(r.log).map(([key, t]) => [key, tf.keep(t.clone())]));
        return r.loss;
      });
      await optimizerStep(opt, grads, algo.updateIndex(step, pass, u));
      const logged = await readScalars(loggedT);
      for (const [key, v] of Object.entries(logged)) (stats[key] ??= []).push(v);
      if (algo.stopAfterPass?.(logged)) stop = true;
    }
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return Object.fromEntries(Object.entries(stats).map(([key, v]) => [key, mean(v)]));
}
