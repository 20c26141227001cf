// Stage `ppo`: RLHF with PPO, following TRL's classic PPOTrainer: generate → score → per-token KL
// penalty → GAE → clipped policy and value losses over ppo_epochs of mini-batches.

import { block, bool, float, input, int, str, stageSchema } from '../../core/schema.ts';
import { generation, maxPromptLength, rlStepLogging, samplingRules } from './common.ts';
import { lora, optimizer } from '../train/params.ts';
import type { ContextOf, StageOutcome } from '../stage-context.ts';
import type { Batch } from '../model/batch.ts';
import type { CausalLM } from '../model/causal-lm.ts';
import type { KlController, RunningMoments } from '../rl/advantages.ts';
import type { OptimizerParts } from '../train/loop.ts';
import type { Sampled } from '../train/sampling.ts';
import type { Scorer } from '../train/scorer.ts';
import type { Tokenizer } from '../tokenizers/types.ts';

export const schema = stageSchema({
  kind: 'ppo',
  doc: 'RLHF with PPO against a reward model or a judge, with a KL penalty to the reference.',
  params: {
    policy: input('Policy to optimise (gets a value head); its starting weights are the frozen reference.', ['causal_lm']),
    reward: input('What scores responses: a reward model or a judge.', ['reward_model', 'judge']),
    prompts: input('Prompts to generate from.', ['prompts']),
    steps: int('PPO steps (each: one batch generated, scored and optimised).', 20, 1),
    batch_size: int('Prompts per step.', 16, 1),
    mini_batch_size: int('Examples per optimisation mini-batch; must divide batch_size.', 4, 1),
    ppo_epochs: int('Optimisation passes over each batch.', 4, 1),
    max_prompt_length: maxPromptLength(32, 'policy'),
    gamma: float('Discount factor.', 1.0, 0, 1),
    lam: float('GAE λ.', 0.95, 0, 1),
    cliprange: float('Policy ratio clip ε.', 0.2, 0, 10, { minExclusive: true }),
    cliprange_value: float('Value clip.', 0.2, 0, 1000, { minExclusive: true }),
    vf_coef: float('Value-loss coefficient.', 0.1, 0),
    whiten_rewards: bool('Scale per-token rewards by their batch standard deviation (TRL: whitened without shifting the mean) before GAE.', false),
    kl: block('KL penalty and its controller.', 'always', {
      init: float('Initial β.', 0.2, 0),
      adaptive: bool('Adapt β toward `target` (else β stays fixed).', true),
      target: float('Target KL for the adaptive controller.', 6.0, 0, undefined, { minExclusive: true }),
      horizon: int('Adaptive controller horizon.', 10000, 1),
      penalty: str('Per-token KL estimator.', 'kl', ['kl', 'abs', 'mse']),
      stop_at: float('Early-stop an epoch when the batch\'s approx KL exceeds this (0: off).', 0, 0),
    }),
    score: block('Score post-processing.', 'always', {
      scaling: bool('Divide scores by their running standard deviation.', false),
      clip: float('Clip scores to ±clip after scaling (0: off).', 0, 0),
    }),
    generation: generation({ max_new_tokens: 24, temperature: 1.0 }),
    lora,
    optimizer,
    ...rlStepLogging,
  },
  outputs: { model: 'causal_lm' },
  carries: { model: 'policy' },
  rules: (p, ctx) => {
    const out = samplingRules(p, ctx, 'policy');
    const b = p.batch_size;
    const mb = p.mini_batch_size;
    if (b % mb !== 0) out.push({ path: 'mini_batch_size', message: `mini_batch_size ${mb} does not divide batch_size ${b}` });
    const rm = ctx.inputs['reward']?.model;
    const pol = ctx.inputs['policy']?.model;
    if (rm && rm.vocab_size !== undefined && pol?.vocab_size !== undefined && rm.vocab_size !== pol.vocab_size) {
      out.push({ path: 'reward', message: `the reward model's vocabulary (${rm.vocab_size}) differs from the policy's (${pol.vocab_size}); they must share a tokenizer` });
    }
    return out;
  },
});

type Params = typeof schema.params;

// ---- run ----------------------------------------------------------------------------------
// One PPO step: sample prompts → rollout (generate, score, old/reference log-probs and values) →
// rewards with the per-token KL penalty → GAE → ppo_epochs passes of shuffled mini-batches with the
// clipped losses → KL controller update. The step driver (resume, checkpoints, interruption) and
// each optimizer update (clipping, the schedule's rate) are the training loop's (train/loop.ts).

/** The tensor code PPO runs, loaded when the stage runs (the compiler reads only the schema). */
async function loadLib() {
  return {
    tf: await import('@tensorflow/tfjs'),
    ...(await import('../train/lm.ts')),
    ...(await import('../train/loop.ts')),
    ...(await import('../train/scorer.ts')),
    ...(await import('../train/sampling.ts')),
    ...(await import('../train/examples.ts')),
    ...(await import('../model/batch.ts')),
    ...(await import('../optim.ts')),
    rl: await import('../rl/advantages.ts'),
    ...(await import('../rl/losses.ts')),
    ...(await import('../data/split.ts')),
    ...(await import('../text-stats.ts')),
  };
}
type Lib = Awaited<ReturnType<typeof loadLib>>;
type P = ContextOf<Params>['params'];

export async function run(ctx: ContextOf<Params>): Promise<StageOutcome> {
  const lib = await loadLib();
  const { rl } = lib;
  const p = ctx.params;
  const kl = p.kl;
  const policy = await lib.openLM(ctx, { modelInput: 'policy', lora: p.lora, head: 'value' });
  // Frozen reference: with LoRA the same weights with adapters disabled; otherwise a second copy.
  const refCopy = policy.model.lora ? undefined : await lib.openLM({ ...ctx, inputs: { model: ctx.inputs.policy } });
  const scorer = await lib.openScorer(ctx, 'reward');
  try {
    // Whole records: a user reward function also receives each prompt's dataset record.
    const prompts = ctx.inputs.prompts.train as unknown as Record<string, unknown>[];
    if (prompts.length === 0) throw policy.dataError('the prompts dataset is empty');
    const { batch_size: B, steps } = p;
    // The schedule runs over PPO steps: every mini-batch update of step i uses the rate of step i
    // (TRL steps its scheduler once per batch).
    const opt = policy.optimizerParts(p.optimizer, steps);
    let ctl: KlController = kl.adaptive ? new rl.AdaptiveKl(kl.init, kl.target, kl.horizon) : new rl.FixedKl(kl.init);
    const moments = new rl.RunningMoments();
    const nextPrompts = promptCycle(lib, prompts, B, `${ctx.seed}:${ctx.node.id}`);
    ctx.reporter.note(`${prompts.length} prompts, ${steps} steps of ${B}; judge: ${scorer.name}; ${policy.describeTrainable()}`);
    let first: Record<string, number> | undefined;
    let last: Record<string, number> = {};
    // Resume: weights, AdamW, dropout RNG come back through the checkpoint; the KL controller, the
    // score moments and the statistics through the loop state; the prompt order is replayed.
    await lib.runSteps({
      totalSteps: steps,
      reporter: ctx.reporter,
      signal: ctx.signal,
      checkpoints: policy.checkpoints(ctx),
      state: () => ({ ctl: ctl.state(), moments: moments.state(), first: first ?? null, last }),
      restore: (e, start) => {
        ctl = rl.klControllerFromState(e.ctl);
        moments.load(e.moments);
        first = e.first ?? undefined;
        last = e.last;
        for (let k = 0; k < start; k++) nextPrompts();
      },
      progress: () => ({ score: last['score'], kl: last['kl'] }),
      step: async (step) => {
        const t0 = performance.now();
        const batchPrompts = nextPrompts();
        const r = await rollout(lib, p, policy.model, refCopy?.model, policy.tokenizer, scorer, moments, batchPrompts, ctx.seed * 1000003 + step);
        const beta = ctl.value;
        const a = advantages(lib, p, r, beta);
        const stats = optimise(lib, p, opt, policy.model, r, a, `${ctx.seed}:${step}`, step);
        const meanKl = rl.maskedMean(a.kl.map((x) => x.reduce((u, v) => u + v, 0)));
        ctl.update(meanKl, B);
        last = {
          step: step + 1,
          score: r.rawMean,
          kl: meanKl,
          beta,
          non_score_reward: rl.maskedMean(a.nonScore.map((x) => x.reduce((u, v) => u + v, 0))),
          ...stats,
          response_len: mean(r.sampled.responseIds.map((x) => x.length)),
          ...rolloutStats(lib.degenerationStats(r.sampled.texts)),
          lr: opt.lrAt(step),
          seconds: (performance.now() - t0) / 1000,
        };
        first ??= last;
        const samples = Object.fromEntries(
          r.sampled.texts
            .slice(0, p.samples)
            .map((t, i) => [`sample_${i}`, `${JSON.stringify(batchPrompts[i]['prompt'] ?? '')} → ${JSON.stringify(t)} (score ${r.scores[i].toFixed(3)})`]),
        );
        if (lib.logDue(step, p.log_every, steps)) ctx.reporter.log({ ...last, ...samples });
        ctx.reporter.tick(step + 1, { score: last['score'], kl: last['kl'] });
      },
    });
    await policy.save(`${ctx.outDir}/model`);
    return {
      metrics: { ...last, first_score: first?.['score'] ?? NaN, final_beta: ctl.value },
      headline: `mean score ${(first?.['score'] ?? NaN).toFixed(3)} → ${(last['score'] ?? NaN).toFixed(3)}, KL ${(last['kl'] ?? NaN).toFixed(3)}, β ${ctl.value.toFixed(4)}`,
    };
  } finally {
    scorer.dispose();
    refCopy?.dispose();
    policy.dispose();
  }
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/** Endless batches of B prompts, reshuffled every epoch (seeded by `salt` and the epoch). */
function promptCycle<T>(lib: Lib, prompts: T[], B: number, salt: string): () => T[] {
  let order: T[] = [];
  let at = 0;
  let epoch = 0;
  return () => {
    const out: T[] = [];
    while (out.length < B) {
      if (at >= order.length) {
        order = lib.shuffle(prompts, `${salt}:${epoch++}`);
        at = 0;
      }
      out.push(order[at++]);
    }
    return out;
  };
}

interface Rollout {
  sampled: Sampled;
  /** Scores after scaling/clipping; rawMean before. */
  scores: number[];
  rawMean: number;
  /** Prompt + response rows (targetsMask = 1 on response tokens). */
  batch: Batch;
  oldLp: Float32Array;
  oldV: Float32Array;
  refLp: Float32Array;
  /** Per row: flat positions [b*T + t] of its response tokens. */
  pos: number[][];
}

/** Generate with the current policy, score, and read old log-probs, values and reference log-probs. */
async function rollout(
  lib: Lib,
  p: P,
  policy: CausalLM,
  refCopy: CausalLM | undefined,
  tok: Tokenizer,
  scorer: Scorer,
  moments: RunningMoments,
  records: Record<string, unknown>[],
  seed: number,
): Promise<Rollout> {
  const { tf, rl } = lib;
  const prompts = records.map((r) => (typeof r['prompt'] === 'string' ? r['prompt'] : ''));
  const sampled = lib.sampleResponses(policy, tok, prompts, p.generation, p.max_prompt_length, seed);
  let scores = await scorer.score(prompts, sampled.texts, records);
  const rawMean = rl.maskedMean(scores);
  scores = rl.scaleScores(scores, moments, { scaling: p.score.scaling, clip: p.score.clip });
  const rows = sampled.promptIds.map((q, i) => {
    const r = sampled.responseIds[i].length ? sampled.responseIds[i] : [tok.eosId];
    return { ids: [...q, ...r], loss: [...q.map(() => 0), ...r.map(() => 1)] };
  });
  const batch = lib.collate(rows, tok.padId);
  const forward = (m: CausalLM, withValues: boolean) =>
    tf.tidy(() => {
      const t = lib.toTensors(batch);
      const h = m.hidden(t.ids, t.mask);
      const lp = m.logProbsFrom(h, t.targets);
      return withValues ? [lp, m.valuesFrom(h)] : [lp];
    });
  const [oldLpT, oldVT] = forward(policy, true);
  let refLpT: import('@tensorflow/tfjs').Tensor;
  if (refCopy) [refLpT] = forward(refCopy, false);
  else {
    policy.lora!.enabled = false;
    [refLpT] = forward(policy, false);
    policy.lora!.enabled = true;
  }
  const oldLp = (await oldLpT.data()) as Float32Array;
  const oldV = (await oldVT.data()) as Float32Array;
  const refLp = (await refLpT.data()) as Float32Array;
  tf.dispose([oldLpT, oldVT, refLpT]);
  const T = batch.T;
  const pos = rows.map((_, b) => {
    const out: number[] = [];
    for (let t = 0; t < T; t++) if (batch.targetsMask[b * T + t] > 0) out.push(b * T + t);
    return out;
  });
  return { sampled, scores, rawMean, batch, oldLp, oldV, refLp, pos };
}

/** Per-token rewards with the KL penalty (β), optionally whitened, then GAE: advantages and returns as [B*T]. */
function advantages(lib: Lib, p: P, r: Rollout, beta: number) {
  const { rl } = lib;
  const at = (xs: Float32Array) => r.pos.map((ps) => ps.map((i) => xs[i]));
  const masks = r.pos.map((ps) => ps.map(() => 1));
  const rw = rl.computeRewards(r.scores, at(r.oldLp), at(r.refLp), masks, beta, p.kl.penalty);
  // TRL: whiten_rewards whitens over the batch's response tokens without shifting the mean.
  let tokenRewards = rw.rewards;
  if (p.whiten_rewards) {
    const flat = rl.whiten(rw.rewards.flat(), masks.flat(), false);
    let k = 0;
    tokenRewards = rw.rewards.map((x) => x.map(() => flat[k++]));
  }
  const { advantages: advs, returns } = rl.computeAdvantages(at(r.oldV), tokenRewards, masks, p.gamma, p.lam);
  const n = r.batch.B * r.batch.T;
  const adv = new Float32Array(n);
  const ret = new Float32Array(n);
  r.pos.forEach((ps, b) => ps.forEach((i, j) => ((adv[i] = advs[b][j]), (ret[i] = returns[b][j]))));
  return { adv, ret, kl: rw.kl, nonScore: rw.nonScore };
}

/** ppo_epochs passes of shuffled mini-batches, one optimizer update each; mean statistics. */
function optimise(lib: Lib, p: P, opt: OptimizerParts, policy: CausalLM, r: Rollout, a: { adv: Float32Array; ret: Float32Array }, salt: string, step: number) {
  const { tf } = lib;
  const { B, T } = r.batch;
  const stats: Record<string, number[]> = { pg_loss: [], vf_loss: [], clipfrac: [], approx_kl: [], entropy: [] };
  const slice = <A extends Float32Array | Int32Array>(x: A, idx: number[]): A => {
    const out = new (x.constructor as new (n: number) => A)(idx.length * T);
    idx.forEach((b, row) => out.set(x.subarray(b * T, (b + 1) * T), row * T));
    return out;
  };
  let stopped = false;
  for (let e = 0; e < p.ppo_epochs && !stopped; e++) {
    const perm = lib.shuffle([...Array(B).keys()], `${salt}:${e}`);
    for (let m0 = 0; m0 < B; m0 += p.mini_batch_size) {
      const idx = perm.slice(m0, m0 + p.mini_batch_size);
      const n = idx.length;
      const mb = (x: Float32Array) => tf.tensor2d(slice(x, idx), [n, T]);
      let out: Record<string, number> = {};
      const { grads } = lib.accumulateGrads(opt.params, 1, () => {
        const ids = tf.tensor2d(slice(r.batch.ids, idx), [n, T], 'int32');
        const targets = tf.tensor2d(slice(r.batch.targets, idx), [n, T], 'int32');
        const rmask = mb(r.batch.targetsMask);
        const h = policy.hidden(ids, mb(r.batch.mask), { training: true });
        const { logProbs, entropy } = policy.logProbsAndEntropyFrom(h, targets);
        const loss = lib.ppoLoss({
          oldLogprobs: mb(r.oldLp),
          logprobs: logProbs,
          oldValues: mb(r.oldV),
          values: policy.valuesFrom(h),
          advantages: mb(a.adv),
          returns: mb(a.ret),
          mask: rmask,
          cliprange: p.cliprange,
          cliprangeValue: p.cliprange_value,
          vfCoef: p.vf_coef,
        });
        const entMean = tf.div(tf.sum(tf.mul(entropy, rmask)), tf.maximum(tf.sum(rmask), 1));
        out = {
          pg_loss: loss.pgLoss.dataSync()[0],
          vf_loss: loss.vfLoss.dataSync()[0],
          clipfrac: loss.clipFrac.dataSync()[0],
          approx_kl: loss.approxKl.dataSync()[0],
          entropy: entMean.dataSync()[0],
        };
        return loss.loss;
      });
      lib.optimizerStep(opt, grads, step);
      for (const [key, v] of Object.entries(out)) stats[key].push(v);
      if (p.kl.stop_at > 0 && out['approx_kl'] > p.kl.stop_at) stopped = true;
    }
  }
  return Object.fromEntries(Object.entries(stats).map(([k, xs]) => [k, mean(xs)]));
}

/** What a rollout's responses look like (the eval stage's degeneration statistics), for the log: a policy gaming its reward shrinks, stretches or repeats them. */
function rolloutStats(d: import('../text-stats.ts').DegenerationStats): Record<string, number> {
  return { mean_words: d.words.mean, empty_rate: d.empty_rate, distinct_1: d.distinct_1, distinct_2: d.distinct_2, repetition_2: d.repetition_2 };
}
