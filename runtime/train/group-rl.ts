// The loop the value-free RL stages share (grpo, rloo): per step, answer batch_size / k prompts k
// times each, score the answers with every reward source, compute log-probs of the sampling policy
// (and of the frozen reference when the KL term is on), then num_iterations passes of shuffled
// mini-batches through the stage's own loss. The stage supplies only what makes it itself: how
// rewards become advantages, and the loss of a mini-batch. Resume, logging and sampling are here.

import * as tf from '@tensorflow/tfjs';
import type { ResolvedParams } from '../../core/schema.ts';
import { shuffle } from '../data/split.ts';
import { accumulateGrads } from '../optim.ts';
import { readScalars } from '../tensor-backend.ts';
import type { StageContext, StageOutcome } from '../stage-context.ts';
import { degenerationStats } from '../text-stats.ts';
import { openLM } from './lm.ts';
import { logDue, optimizerStep, runSteps } from './loop.ts';
import type { LoraParams, OptimizerParams } from './params.ts';
import { groupRollout, rowsOf, summary, tokenLogProbs, type GroupRollout } from './rollouts.ts';
import { openScorer, type Scorer } from './scorer.ts';

/** The parameters every group-RL stage has (see the grpo and rloo schemas). */
export interface GroupParams {
  steps: number;
  batch_size: number;
  num_generations: number;
  mini_batch_size: number;
  num_iterations: number;
  beta: number;
  reward_weights: number[];
  mask_truncated_completions: boolean;
  max_prompt_length: number;
  generation: ResolvedParams;
  /** The stage's `lora { ... }` block (null: train every weight). */
  lora: LoraParams | null;
  optimizer: OptimizerParams;
  log_every: number;
  samples: number;
}

/** What the stage computes once per generation batch. */
export interface Prepared {
  advantages: number[];
  /** Per completion: its group's rewards had no spread (it teaches nothing). */
  stdIsZero: boolean[];
  /** Extra numbers for the step's log line. */
  log?: Record<string, number>;
}

/** A mini-batch as tensors (rows `idx` of the generation batch); the loss returns scalars to log. */
export interface MiniBatch {
  /** Per-token log-probs under the policy being trained [n, T] (with gradient). */
  logps: tf.Tensor2D;
  /** Under the sampling policy and the reference (no gradient) [n, T]. */
  oldLogps: tf.Tensor2D;
  refLogps?: tf.Tensor2D;
  /** Response tokens that count [n, T]. */
  mask: tf.Tensor2D;
  advantages: tf.Tensor1D;
  /** Response tokens of the whole generation batch, and the number of updates it is split into. */
  tokensInBatch: number;
  updates: number;
}

export interface GroupAlgorithm {
  /** Turn the rollout's rewards into advantages (old/ref log-probs are per token [B, T], flat). */
  prepare(ro: GroupRollout, oldLp: Float32Array, refLp: Float32Array | undefined): Prepared;
  /** The loss of a mini-batch (run inside the gradient tape), and the scalars to log for it. */
  loss(m: MiniBatch): { loss: tf.Scalar; log: Record<string, tf.Scalar> };
}

export async function runGroupRL(ctx: StageContext, p: GroupParams, algo: GroupAlgorithm): Promise<StageOutcome> {
  const k = p.num_generations;
  const B = p.batch_size;
  const updates = B / p.mini_batch_size;
  const policy = await openLM(ctx, { modelInput: 'policy', lora: p.lora });
  // The reference only when the KL term is on: with LoRA the same weights with adapters off.
  const refCopy = p.beta > 0 && !policy.model.lora ? await openLM({ ...ctx, inputs: { model: ctx.inputs['policy'] } }) : undefined;
  const rewardKeys = Object.keys(ctx.inputs)
    .filter((key) => key.startsWith('rewards['))
    .sort((a, b) => Number(a.slice(8, -1)) - Number(b.slice(8, -1)));
  const scorers: Scorer[] = [];
  try {
    for (const key of rewardKeys) scorers.push(await openScorer(ctx, key));
    const src = ctx.inputs['prompts'] as { train: { prompt?: string }[] };
    // Whole records: user reward functions receive each prompt's record (e.g. its reference answer).
    const prompts = src.train;
    if (prompts.length === 0) throw policy.dataError('the prompts dataset is empty');
    const tok = policy.tokenizer;
    const opt = policy.optimizerParts(p.optimizer, p.steps * updates * p.num_iterations);
    let order: typeof prompts = [];
    let at = 0;
    let epoch = 0;
    const nextPrompts = () => {
      const out: typeof prompts = [];
      while (out.length < B / k) {
        if (at >= order.length) {
          order = shuffle(prompts, `${ctx.seed}:${ctx.node.id}:${epoch++}`);
          at = 0;
        }
        out.push(order[at++]);
      }
      return out;
    };
    const names = scorers.map((_, i) => `rewards/${i}`);
    ctx.reporter.note(`${prompts.length} prompts, ${p.steps} steps of ${B / k} prompts × ${k} answers; ${scorers.map((s, i) => `${names[i]} = ${s.name}`).join(', ')}; ${policy.describeTrainable()}`);
    let first: Record<string, number> | undefined;
    let last: Record<string, number> = {};
    await runSteps({
      totalSteps: p.steps,
      reporter: ctx.reporter,
      signal: ctx.signal,
      checkpoints: policy.checkpoints(ctx),
      state: () => ({ first: first ?? null, last }),
      restore: (e, start) => {
        first = e.first ?? undefined;
        last = e.last;
        for (let s = 0; s < start; s++) nextPrompts();
      },
      progress: () => ({ reward: last['reward'], kl: last['kl'] }),
      step: async (step) => {
        const t0 = performance.now();
        // 1. Answer each prompt k times; score every answer with every source.
        const ro = await groupRollout(policy.model, tok, nextPrompts(), k, {
          gen: p.generation,
          maxPromptLength: p.max_prompt_length,
          seed: ctx.seed * 1000003 + step,
          scorers,
          weights: p.reward_weights.length ? p.reward_weights : undefined,
          maskTruncated: p.mask_truncated_completions,
        });
        const { batch } = ro;
        const T = batch.T;
        // 2. Log-probs of the sampling policy and of the reference; the stage's advantages.
        const oldLp = await tokenLogProbs(policy.model, batch);
        let refLp: Float32Array | undefined;
        if (p.beta > 0) {
          if (refCopy) refLp = await tokenLogProbs(refCopy.model, batch);
          else {
            policy.model.lora!.enabled = false;
            refLp = await tokenLogProbs(policy.model, batch);
            policy.model.lora!.enabled = true;
          }
        }
        const prep = algo.prepare(ro, oldLp, refLp);
        const adv = Float32Array.from(prep.advantages);
        // 3. num_iterations passes of shuffled mini-batches.
        const tokensInBatch = ro.tokens.reduce((a, b) => a + b, 0);
        const stats: Record<string, number[]> = {};
        for (let it = 0; it < p.num_iterations; it++) {
          const perm = shuffle([...Array(B).keys()], `${ctx.seed}:${step}:${it}`);
          for (let u = 0; u < updates; u++) {
            const idx = perm.slice(u * p.mini_batch_size, (u + 1) * p.mini_batch_size);
            const n = idx.length;
            let logged: Record<string, tf.Tensor> = {};
            const { grads } = accumulateGrads(opt.params, 1, () => {
              const rows = <A extends Float32Array | Int32Array>(a: A) => rowsOf(a, idx, T);
              const h = policy.model.hidden(tf.tensor2d(rows(batch.ids), [n, T], 'int32'), tf.tensor2d(rows(batch.mask), [n, T]), { training: true });
              const r = algo.loss({
                logps: policy.model.logProbsFrom(h, tf.tensor2d(rows(batch.targets), [n, T], 'int32')) as tf.Tensor2D,
                oldLogps: tf.tensor2d(rows(oldLp), [n, T]),
                refLogps: refLp ? tf.tensor2d(rows(refLp), [n, T]) : undefined,
                mask: tf.tensor2d(rows(batch.targetsMask), [n, T]),
                advantages: tf.tensor1d(idx.map((i) => adv[i])),
                tokensInBatch,
                updates,
              });
              logged = Object.fromEntries(Object.entries(r.log).map(([key, t]) => [key, tf.keep(t.clone())])); // read after the step
              return r.loss;
            });
            await optimizerStep(opt, grads, (step * p.num_iterations + it) * updates + u);
            for (const [key, v] of Object.entries(await readScalars(logged))) (stats[key] ??= []).push(v);
          }
        }
        // 4. Log: rewards (total, per source, group spread), advantages, the losses' scalars, the answers.
        const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
        const rs = summary(ro.rewards.filter((r) => !Number.isNaN(r)));
        const as = summary(prep.advantages);
        const d = degenerationStats(ro.texts, ro.responseIds.map((r) => r.length));
        last = {
          step: step + 1,
          reward: rs.mean,
          reward_std: rs.std,
          ...Object.fromEntries(names.map((nm, j) => [nm, avg(ro.perSource[j].filter((x) => !Number.isNaN(x)))])),
          frac_reward_zero_std: avg(prep.stdIsZero.map((z) => (z ? 1 : 0))),
          advantage_mean: as.mean,
          advantage_std: as.std,
          advantage_min: as.min,
          advantage_max: as.max,
          ...prep.log,
          ...Object.fromEntries(Object.entries(stats).map(([key, v]) => [key, avg(v)])),
          completion_len: avg(ro.responseIds.map((r) => r.length)),
          truncated_ratio: avg(ro.truncated.map((t) => (t ? 1 : 0))),
          mean_words: d.words.mean,
          empty_rate: d.empty_rate,
          distinct_1: d.distinct_1,
          distinct_2: d.distinct_2,
          repetition_2: d.repetition_2,
          lr: opt.lrAt(step * p.num_iterations * updates),
          seconds: (performance.now() - t0) / 1000,
        };
        first ??= last;
        // Samples: the first group's answers, with their rewards and advantages.
        const samples = Object.fromEntries(
          ro.texts
            .slice(0, p.samples)
            .map((t, i) => [`sample_${i}`, `${JSON.stringify(ro.prompts[i])} → ${JSON.stringify(t)} (reward ${ro.rewards[i].toFixed(3)}, advantage ${prep.advantages[i].toFixed(2)})`]),
        );
        if (logDue(step, p.log_every, p.steps)) ctx.reporter.log({ ...last, ...samples });
        ctx.reporter.tick(step + 1, { reward: last['reward'], kl: last['kl'] });
      },
    });
    await policy.save(`${ctx.outDir}/model`);
    return {
      metrics: { ...last, first_reward: first?.['reward'] ?? Number.NaN },
      headline: `mean reward ${(first?.['reward'] ?? Number.NaN).toFixed(3)} → ${(last['reward'] ?? Number.NaN).toFixed(3)}${p.beta > 0 ? `, KL ${(last['kl'] ?? Number.NaN).toFixed(3)}` : ''}, ${k} answers per prompt`,
    };
  } finally {
    for (const s of scorers) s.dispose();
    refCopy?.dispose();
    policy.dispose();
  }
}
