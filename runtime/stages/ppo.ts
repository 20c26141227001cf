// Stage `ppo`: RLHF with PPO, following TRL's classic PPOTrainer: generate → score → per-token KL
// penalty → GAE → clipped policy and value losses over ppo_epochs of mini-batches.

import { block, bool, float, input, int, str, withDefaults, type StageSchema } from './schema.ts';
import { generation, lora, maxPromptLength, optimizer, samplingRules } from './common.ts';
import type { DatasetArtifact, StageContext, StageOutcome } from './context.ts';

export const schema: StageSchema = {
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
    log_every: int('Write a metrics line every N steps.', 1, 1),
    checkpoint_every: { ...int('Save a resumable checkpoint every N steps (0: every 2 minutes). Not part of the cache key.', 0, 0), notInHash: true },
    samples: int('Sample generations logged per step.', 2, 0),
  },
  outputs: { model: 'causal_lm' },
  carries: { model: 'policy' },
  rules: (p, ctx) => {
    const out = samplingRules(p, ctx, 'policy');
    const b = p['batch_size'] as number;
    const mb = p['mini_batch_size'] as number;
    if (b % mb !== 0) out.push({ path: 'mini_batch_size', message: `mini_batch_size ${mb} does not divide batch_size ${b}` });
    const rm = ctx.inputs['reward']?.model;
    const pol = ctx.inputs['policy']?.model;
    if (rm && rm.vocab_size !== undefined && pol?.vocab_size !== undefined && rm.vocab_size !== pol.vocab_size) {
      out.push({ path: 'reward', message: `the reward model's vocabulary (${rm.vocab_size}) differs from the policy's (${pol.vocab_size}); they must share a tokenizer` });
    }
    return out;
  },
};

export const defaults = withDefaults(schema.params, {});

// ---- run ----------------------------------------------------------------------------------
// One PPO step: sample prompts → generate → score → per-token KL penalty and rewards → GAE →
// ppo_epochs passes of shuffled mini-batches with the clipped losses → KL controller update.

export async function run(ctx: StageContext): Promise<StageOutcome> {
  const tf = await import('@tensorflow/tfjs');
  const { openLM } = await import('../train/lm.ts');
  const { openScorer } = await import('../train/scorer.ts');
  const { sampleResponses } = await import('../train/sampling.ts');
  const { collate } = await import('../train/examples.ts');
  const { toTensors } = await import('../model/gpt.ts');
  const { accumulateGrads, clipByGlobalNorm } = await import('../optim.ts');
  const rl = await import('../rl/advantages.ts');
  const { ppoLoss } = await import('../rl/losses.ts');
  const { shuffle } = await import('../data/split.ts');

  const p = ctx.params as Record<string, never>;
  const kl = p['kl'] as Record<string, never>;
  const sc = p['score'] as Record<string, never>;
  const gen = p['generation'] as Record<string, never>;
  const opt = p['optimizer'] as Record<string, never>;
  const policy = await openLM(ctx, { modelInput: 'policy', lora: p['lora'], head: 'value' });
  // Frozen reference: with LoRA the same weights with adapters disabled; otherwise a second copy.
  const refCopy = policy.model.lora ? undefined : await openLM({ ...ctx, inputs: { model: ctx.inputs['policy'] } });
  const scorer = await openScorer(ctx, 'reward');
  try {
    const prompts = (ctx.inputs['prompts'] as DatasetArtifact).train.map((r) => r.prompt ?? '');
    if (prompts.length === 0) throw policy.dataError('the prompts dataset is empty');
    const tok = policy.tokenizer;
    const B = p['batch_size'] as number;
    const mb = p['mini_batch_size'] as number;
    const steps = p['steps'] as number;
    const params = policy.model.trainable();
    const optimizer = policy.adamW(opt);
    let ctl: import('../rl/advantages.ts').KlController = kl['adaptive'] ? new rl.AdaptiveKl(kl['init'], kl['target'], kl['horizon']) : new rl.FixedKl(kl['init']);
    const moments = new rl.RunningMoments();
    let order: string[] = [];
    let at = 0;
    let epoch = 0;
    const nextPrompts = () => {
      const out: string[] = [];
      while (out.length < B) {
        if (at >= order.length) {
          order = shuffle(prompts, `${ctx.seed}:${ctx.node.id}:${epoch++}`);
          at = 0;
        }
        out.push(order[at++]);
      }
      return out;
    };
    ctx.reporter.note(`${prompts.length} prompts, ${steps} steps of ${B}; judge: ${scorer.name}; ${policy.describeTrainable()}`);
    let first: Record<string, number> | undefined;
    let last: Record<string, number> = {};
    // Resume: weights, AdamW, dropout RNG come back through the checkpoint; the KL controller, the
    // score moments and the statistics through its loop state; the prompt order is replayed.
    const checkpoints = policy.checkpoints(ctx);
    const saveState = () => ({ ctl: ctl.state(), moments: moments.state(), first: first ?? null, last });
    let start = 0;
    const resumed = await checkpoints.load(steps);
    if (resumed) {
      start = resumed.step;
      const e = resumed.extra as ReturnType<typeof saveState>;
      ctl = rl.klControllerFromState(e.ctl);
      moments.load(e.moments);
      first = e.first ?? undefined;
      last = e.last;
      for (let k = 0; k < start; k++) nextPrompts();
      ctx.reporter.note(`resumed from the checkpoint at step ${start}/${steps}`);
    }
    ctx.reporter.start(steps);
    if (start > 0) ctx.reporter.tick(start, { score: last['score'], kl: last['kl'] });
    for (let step = start; step < steps; step++) {
      if (ctx.signal.aborted) {
        ctx.reporter.stop();
        throw await checkpoints.interrupted({ step, extra: saveState() }, steps, start);
      }
      const t0 = performance.now();
      const batchPrompts = nextPrompts();
      // 1. Generate with the current policy.
      const s = sampleResponses(policy.model, tok, batchPrompts, gen, p['max_prompt_length'], ctx.seed * 1000003 + step);
      // 2. Score.
      let scores = await scorer.score(batchPrompts, s.texts);
      const rawMean = rl.maskedMean(scores);
      scores = rl.scaleScores(scores, moments, { scaling: sc['scaling'], clip: sc['clip'] });
      // 3. Old log-probs, reference log-probs and values on prompt + response.
      const rows = s.promptIds.map((q, i) => {
        const r = s.responseIds[i].length ? s.responseIds[i] : [tok.eosId];
        return { ids: [...q, ...r], loss: [...q.map(() => 0), ...r.map(() => 1)] };
      });
      const batch = collate(rows, tok.padId);
      const T = batch.T;
      const forward = (m: typeof policy.model, withValues: boolean) =>
        tf.tidy(() => {
          const t = toTensors(batch);
          const h = m.hidden(t.ids, t.mask);
          const lp = tf.sum(tf.mul(tf.oneHot(t.targets, m.config.vocabSize), tf.logSoftmax(m.head(h))), -1);
          return withValues ? [lp, m.valuesFrom(h)] : [lp];
        });
      const [oldLpT, oldVT] = forward(policy.model, true);
      let refLpT: import('@tensorflow/tfjs').Tensor;
      if (refCopy) [refLpT] = forward(refCopy.model, false);
      else {
        policy.model.lora!.enabled = false;
        [refLpT] = forward(policy.model, false);
        policy.model.lora!.enabled = true;
      }
      const oldLp = (await oldLpT.data()) as Float32Array;
      const oldV = (await oldVT.data()) as Float32Array;
      const refLp = (await refLpT.data()) as Float32Array;
      tf.dispose([oldLpT, oldVT, refLpT]);
      // Per-row response positions (where targetsMask = 1).
      const pos = rows.map((_, b) => {
        const out: number[] = [];
        for (let t = 0; t < T; t++) if (batch.targetsMask[b * T + t] > 0) out.push(b * T + t);
        return out;
      });
      const lps = pos.map((ps) => ps.map((i) => oldLp[i]));
      const refs = pos.map((ps) => ps.map((i) => refLp[i]));
      const vals = pos.map((ps) => ps.map((i) => oldV[i]));
      const masks = pos.map((ps) => ps.map(() => 1));
      // 4. Rewards with the KL penalty, GAE, whitened advantages.
      const beta = ctl.value;
      const rw = rl.computeRewards(scores, lps, refs, masks, beta, kl['penalty']);
      // TRL: whiten_rewards whitens over the batch's response tokens without shifting the mean.
      let tokenRewards = rw.rewards;
      if (p['whiten_rewards']) {
        const flat = rl.whiten(rw.rewards.flat(), masks.flat(), false);
        let k = 0;
        tokenRewards = rw.rewards.map((r) => r.map(() => flat[k++]));
      }
      const { advantages, returns } = rl.computeAdvantages(vals, tokenRewards, masks, p['gamma'], p['lam']);
      const adv = new Float32Array(B * T);
      const ret = new Float32Array(B * T);
      pos.forEach((ps, b) => ps.forEach((i, j) => ((adv[i] = advantages[b][j]), (ret[i] = returns[b][j]))));
      // 5. PPO epochs over shuffled mini-batches.
      const stats: Record<string, number[]> = { pg_loss: [], vf_loss: [], clipfrac: [], approx_kl: [], entropy: [] };
      const slice = (a: Float32Array | Int32Array, idx: number[]) => {
        const out = new (a.constructor as Float32ArrayConstructor)(idx.length * T);
        idx.forEach((b, r) => out.set(a.subarray(b * T, (b + 1) * T), r * T));
        return out;
      };
      let stopped = false;
      for (let e = 0; e < (p['ppo_epochs'] as number) && !stopped; e++) {
        const perm = shuffle([...Array(B).keys()], `${ctx.seed}:${step}:${e}`);
        for (let m0 = 0; m0 < B; m0 += mb) {
          const idx = perm.slice(m0, m0 + mb);
          const n = idx.length;
          const mbIds = slice(batch.ids, idx) as unknown as Int32Array;
          const tensors = () => ({
            ids: tf.tensor2d(Int32Array.from(mbIds), [n, T], 'int32'),
            mask: tf.tensor2d(slice(batch.mask, idx), [n, T]),
            targets: tf.tensor2d(Int32Array.from(slice(batch.targets, idx) as unknown as Int32Array), [n, T], 'int32'),
            rmask: tf.tensor2d(slice(batch.targetsMask, idx), [n, T]),
          });
          let out: Record<string, number> = {};
          const { grads } = accumulateGrads(params, 1, () => {
            const t = tensors();
            const h = policy.model.hidden(t.ids, t.mask, { training: true });
            const logp = tf.logSoftmax(policy.model.head(h));
            const lp = tf.sum(tf.mul(tf.oneHot(t.targets, policy.model.config.vocabSize), logp), -1) as import('@tensorflow/tfjs').Tensor2D;
            const ent = tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), -1));
            const r = ppoLoss({
              oldLogprobs: tf.tensor2d(slice(oldLp, idx), [n, T]),
              logprobs: lp,
              oldValues: tf.tensor2d(slice(oldV, idx), [n, T]),
              values: policy.model.valuesFrom(h),
              advantages: tf.tensor2d(slice(adv, idx), [n, T]),
              returns: tf.tensor2d(slice(ret, idx), [n, T]),
              mask: t.rmask,
              cliprange: p['cliprange'],
              cliprangeValue: p['cliprange_value'],
              vfCoef: p['vf_coef'],
            });
            const entMean = tf.div(tf.sum(tf.mul(ent, t.rmask)), tf.maximum(tf.sum(t.rmask), 1));
            out = {
              pg_loss: r.pgLoss.dataSync()[0],
              vf_loss: r.vfLoss.dataSync()[0],
              clipfrac: r.clipFrac.dataSync()[0],
              approx_kl: r.approxKl.dataSync()[0],
              entropy: entMean.dataSync()[0],
            };
            return r.loss;
          });
          clipByGlobalNorm(grads, (opt['grad_clip'] as number) > 0 ? opt['grad_clip'] : Infinity);
          optimizer.apply(grads, opt['lr']);
          tf.dispose([...grads.values()]);
          for (const [key, v] of Object.entries(out)) stats[key].push(v);
          if ((kl['stop_at'] as number) > 0 && out['approx_kl'] > kl['stop_at']) stopped = true;
        }
      }
      // 6. KL controller and logging.
      const meanKl = rl.maskedMean(rw.kl.map((r) => r.reduce((a, b) => a + b, 0)));
      ctl.update(meanKl, B);
      const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
      last = {
        step: step + 1,
        score: rawMean,
        kl: meanKl,
        beta,
        non_score_reward: rl.maskedMean(rw.nonScore.map((r) => r.reduce((a, b) => a + b, 0))),
        pg_loss: avg(stats['pg_loss']),
        vf_loss: avg(stats['vf_loss']),
        clipfrac: avg(stats['clipfrac']),
        approx_kl: avg(stats['approx_kl']),
        entropy: avg(stats['entropy']),
        response_len: avg(s.responseIds.map((r) => r.length)),
        seconds: (performance.now() - t0) / 1000,
      };
      first ??= last;
      const samples = Object.fromEntries(
        s.texts.slice(0, p['samples'] as number).map((t, i) => [`sample_${i}`, `${JSON.stringify(batchPrompts[i])} → ${JSON.stringify(t)} (score ${scores[i].toFixed(3)})`]),
      );
      if ((step + 1) % (p['log_every'] as number) === 0 || step + 1 === steps) ctx.reporter.log({ ...last, ...samples });
      ctx.reporter.tick(step + 1, { score: last['score'], kl: last['kl'] });
      if (checkpoints.due(step + 1, steps)) await checkpoints.save({ step: step + 1, extra: saveState() });
    }
    ctx.reporter.stop();
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
