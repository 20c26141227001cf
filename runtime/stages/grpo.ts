// Stage `grpo`: Group Relative Policy Optimization, following TRL 1.13's GRPOTrainer: no value
// model; each prompt is answered num_generations times, the answers are scored by one or more reward
// sources (rule judges, reward models, user functions that verify), and each answer's advantage is
// its reward against its group's; a clipped token-level loss with an optional k3 KL to the frozen
// starting policy.

import { float, input, inputs, int, list, bool, str, stageSchema } from '../../core/schema.ts';
import { generation, lora, maxPromptLength, optimizer, samplingRules } from './common.ts';
import type { ContextOf, StageOutcome } from '../stage-context.ts';

export const schema = stageSchema({
  kind: 'grpo',
  doc: 'RL fine-tuning with GRPO (group-relative advantages, no value model) against one or more reward sources.',
  params: {
    policy: input('Policy to optimise; its starting weights are the frozen reference of the KL term.', ['causal_lm']),
    rewards: inputs('Reward sources, summed with `reward_weights`: judges (rules, user functions) and reward models.', ['judge', 'reward_model']),
    reward_weights: list('Weight of each reward source, in the order of `rewards` (default: all 1).', 'float', []),
    prompts: input('Prompts to answer.', ['prompts']),
    steps: int('Generation steps (each: batch_size answers generated, scored and optimised on).', 20, 1),
    batch_size: int('Answers generated per step: prompts per step × num_generations (TRL: the generation batch).', 32, 1),
    num_generations: int('Answers per prompt (the group size G).', 8, 2),
    mini_batch_size: int('Answers per optimizer update; must divide batch_size (TRL: per-device batch size × processes).', 8, 1),
    num_iterations: int('Passes over each generation batch (μ); more than 1 reuses the samples with importance ratios.', 1, 1),
    beta: float('Weight of the KL to the reference (k3 estimator); 0 loads no reference model.', 0.0, 0),
    epsilon: float('Lower clip of the importance ratio: 1 − ε.', 0.2, 0, 1, { minExclusive: true }),
    epsilon_high: float('Upper clip of the importance ratio, 1 + ε_high (clip-higher, DAPO); 0: the same as epsilon.', 0, 0),
    loss_type: str('How token losses are averaged: per sequence then batch (grpo), over the batch\'s tokens (bnpo), by batch × max length (dr_grpo), over the generation batch\'s tokens (dapo).', 'dapo', ['grpo', 'bnpo', 'dr_grpo', 'dapo']),
    scale_rewards: str('Divide advantages by the reward std of the group, of the batch, or not at all.', 'group', ['group', 'batch', 'none']),
    mask_truncated_completions: bool('Leave answers that hit max_new_tokens without end-of-text out of the loss.', false),
    max_prompt_length: maxPromptLength(32, 'policy'),
    generation: generation({ max_new_tokens: 24, temperature: 1.0 }),
    lora,
    optimizer,
    log_every: int('Write a metrics line every N steps.', 1, 1),
    checkpoint_every: { ...int('Save a resumable checkpoint every N steps (0: every 2 minutes). Not part of the cache key.', 0, 0), notInHash: true },
    samples: int('Sample generations logged per step.', 2, 0),
  },
  outputs: { model: 'causal_lm' },
  carries: { model: 'policy' },
  rules: (p, ctx) => {
    const out = samplingRules(p, ctx, 'policy');
    if (p.batch_size % p.num_generations !== 0) out.push({ path: 'batch_size', message: `batch_size ${p.batch_size} is not a whole number of groups of num_generations ${p.num_generations}` });
    if (p.batch_size % p.mini_batch_size !== 0) out.push({ path: 'mini_batch_size', message: `mini_batch_size ${p.mini_batch_size} does not divide batch_size ${p.batch_size}` });
    const n = Object.keys(ctx.inputs).filter((k) => k.startsWith('rewards[')).length;
    if (p.reward_weights.length && n && p.reward_weights.length !== n) out.push({ path: 'reward_weights', message: `${p.reward_weights.length} weight${p.reward_weights.length === 1 ? '' : 's'} for ${n} reward sources` });
    return out;
  },
});

type Params = typeof schema.params;

export async function run(ctx: ContextOf<Params>): Promise<StageOutcome> {
  const tf = await import('@tensorflow/tfjs');
  const { openLM } = await import('../train/lm.ts');
  const { logDue, optimizerStep, runSteps } = await import('../train/loop.ts');
  const { openScorer } = await import('../train/scorer.ts');
  const { groupRollout, rowsOf, summary, tokenLogProbs } = await import('../train/rollouts.ts');
  const { accumulateGrads } = await import('../optim.ts');
  const { grpoAdvantages, grpoLoss } = await import('../rl/group.ts');
  const { degenerationStats } = await import('../text-stats.ts');
  const { shuffle } = await import('../data/split.ts');

  const p = ctx.params;
  const k = p.num_generations;
  const B = p.batch_size;
  const updates = B / p.mini_batch_size;
  const epsHigh = p.epsilon_high > 0 ? p.epsilon_high : p.epsilon;
  const policy = await openLM(ctx, { modelInput: 'policy', lora: p.lora });
  // The reference only when the KL term is on: with LoRA the same weights with adapters off.
  const refCopy = p.beta > 0 && !policy.model.lora ? await openLM({ ...ctx, inputs: { model: ctx.inputs.policy } }) : undefined;
  const rewardKeys = Object.keys(ctx.inputs)
    .filter((key) => key.startsWith('rewards['))
    .sort((a, b) => Number(a.slice(8, -1)) - Number(b.slice(8, -1)));
  const scorers: import('../train/scorer.ts').Scorer[] = [];
  try {
    for (const key of rewardKeys) scorers.push(await openScorer(ctx, key));
    const prompts = ctx.inputs.prompts.train.map((r) => r.prompt ?? '');
    if (prompts.length === 0) throw policy.dataError('the prompts dataset is empty');
    const tok = policy.tokenizer;
    const opt = policy.optimizerParts(p.optimizer, p.steps * updates * p.num_iterations);
    let order: string[] = [];
    let at = 0;
    let epoch = 0;
    const nextPrompts = () => {
      const out: string[] = [];
      while (out.length < B / k) {
        if (at >= order.length) {
          order = shuffle(prompts, `${ctx.seed}:${ctx.node.id}:${epoch++}`);
          at = 0;
        }
        out.push(order[at++]);
      }
      return out;
    };
    const names = scorers.map((s, i) => `rewards/${i}`);
    ctx.reporter.note(`${prompts.length} prompts, ${p.steps} steps of ${B / k} prompts × ${k} answers; rewards: ${scorers.map((s, i) => `${names[i]} = ${s.name}`).join(', ')}; ${policy.describeTrainable()}`);
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
        // 1. Answer each prompt k times and score every answer.
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
        // 2. Group-relative advantages.
        const { advantages, stdIsZero } = grpoAdvantages(ro.rewards, k, p.scale_rewards);
        // 3. Log-probs of the sampling policy and of the reference.
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
        // 4. num_iterations passes of mini-batches; dapo normalises by the generation batch's
        //    tokens per update (TRL: num_items_in_batch / steps_per_generation).
        const totalTokens = ro.tokens.reduce((a, b) => a + b, 0);
        const stats: Record<string, number[]> = { loss: [], kl: [], clip_ratio_low: [], clip_ratio_high: [], clip_ratio: [] };
        const adv = Float32Array.from(advantages);
        for (let it = 0; it < p.num_iterations; it++) {
          const perm = shuffle([...Array(B).keys()], `${ctx.seed}:${step}:${it}`);
          for (let u = 0; u < updates; u++) {
            const idx = perm.slice(u * p.mini_batch_size, (u + 1) * p.mini_batch_size);
            const n = idx.length;
            let out: Record<string, number> = {};
            const { grads } = accumulateGrads(opt.params, 1, () => {
              const ids = tf.tensor2d(rowsOf(batch.ids, idx, T), [n, T], 'int32');
              const targets = tf.tensor2d(rowsOf(batch.targets, idx, T), [n, T], 'int32');
              const mask = tf.tensor2d(rowsOf(batch.targetsMask, idx, T), [n, T]);
              const h = policy.model.hidden(ids, tf.tensor2d(rowsOf(batch.mask, idx, T), [n, T]), { training: true });
              const r = grpoLoss(
                {
                  logps: policy.model.logProbsFrom(h, targets) as import('@tensorflow/tfjs').Tensor2D,
                  oldLogps: tf.tensor2d(rowsOf(oldLp, idx, T), [n, T]),
                  refLogps: refLp ? tf.tensor2d(rowsOf(refLp, idx, T), [n, T]) : undefined,
                  mask,
                  advantages: tf.tensor1d(idx.map((i) => adv[i])),
                },
                { beta: p.beta, epsilon: p.epsilon, epsilonHigh: epsHigh, lossType: p.loss_type, maxCompletionLength: p.generation.max_new_tokens, tokensInBatch: totalTokens / updates },
              );
              out = { loss: r.loss.dataSync()[0], kl: r.kl.dataSync()[0], clip_ratio_low: r.clipLow.dataSync()[0], clip_ratio_high: r.clipHigh.dataSync()[0], clip_ratio: r.clipRegion.dataSync()[0] };
              return r.loss;
            });
            optimizerStep(opt, grads, (step * p.num_iterations + it) * updates + u);
            for (const [key, v] of Object.entries(out)) stats[key].push(v);
          }
        }
        // 5. Log: rewards (total, per source, group spread), advantages, KL, clipping, the answers.
        const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
        const scored = ro.rewards.filter((r) => !Number.isNaN(r));
        const rs = summary(scored);
        const as = summary(advantages);
        const d = degenerationStats(ro.texts, ro.responseIds.map((r) => r.length));
        last = {
          step: step + 1,
          reward: rs.mean,
          reward_std: rs.std,
          ...Object.fromEntries(names.map((nm, j) => [nm, avg(ro.perSource[j].filter((x) => !Number.isNaN(x)))])),
          frac_reward_zero_std: avg(stdIsZero.map((z) => (z ? 1 : 0))),
          advantage_mean: as.mean,
          advantage_std: as.std,
          advantage_min: as.min,
          advantage_max: as.max,
          loss: avg(stats['loss']),
          kl: avg(stats['kl']),
          clip_ratio_low: avg(stats['clip_ratio_low']),
          clip_ratio_high: avg(stats['clip_ratio_high']),
          clip_ratio: avg(stats['clip_ratio']),
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
          ro.texts.slice(0, p.samples).map((t, i) => [`sample_${i}`, `${JSON.stringify(ro.prompts[i])} → ${JSON.stringify(t)} (reward ${ro.rewards[i].toFixed(3)}, advantage ${advantages[i].toFixed(2)})`]),
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
