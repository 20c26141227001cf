// Stage `dpo`: Direct Preference Optimization against a frozen reference (TRL's DPOTrainer losses).

import { float, input, int, str, stageSchema } from '../../core/schema.ts';
import { chatTemplate, maxPromptLength, maxSeqLength, modelRules } from './common.ts';
import { loop, lora, optimizer } from '../train/params.ts';
import type { DatasetArtifact, ContextOf, StageOutcome } from '../stage-context.ts';

export const schema = stageSchema({
  kind: 'dpo',
  doc: 'Direct preference optimisation on preference triples.',
  params: {
    model: input('Policy to optimise; its starting weights are the reference unless `reference` is given.', ['causal_lm']),
    reference: input('Frozen reference model (default: the policy\'s starting weights).', ['causal_lm'], false),
    data: input('Preference triples.', ['preferences']),
    beta: float('Strength of the implicit KL constraint.', 0.1, 0, undefined, { minExclusive: true }),
    loss: str('Loss form.', 'sigmoid', ['sigmoid', 'ipo', 'hinge']),
    label_smoothing: float('Conservative DPO: assumed probability that a label is flipped.', 0, 0, 0.5, { maxExclusive: true }),
    ld_alpha: float('Length-desensitised DPO (LD-DPO; TRL ld_alpha): weight of the log-probs of the response tokens past the length both responses of a pair share, in the policy and the reference (1: plain DPO, 0: the verbose tail ignored).', 1, 0, 1),
    max_seq_length: maxSeqLength(128),
    max_prompt_length: maxPromptLength(64),
    chat_template: chatTemplate,
    lora,
    ...loop({ batch_size: 8, epochs: 1, eval_every: 50 }),
    optimizer,
  },
  outputs: { model: 'causal_lm' },
  carries: { model: 'model' },
  rules: (p, ctx) => {
    const out = modelRules(p, ctx, 'model', [{ path: 'max_seq_length', value: p.max_seq_length }]);
    if (p.max_prompt_length >= p.max_seq_length) {
      out.push({ path: 'max_prompt_length', message: 'max_prompt_length must be smaller than max_seq_length' });
    }
    if (p.label_smoothing > 0 && p.loss !== 'sigmoid') {
      out.push({ path: 'label_smoothing', message: `label_smoothing applies to the sigmoid loss only, not '${p.loss}'` });
    }
    return out;
  },
});

type Params = typeof schema.params;

// ---- run ----------------------------------------------------------------------------------

export async function run(ctx: ContextOf<Params>): Promise<StageOutcome> {
  const tf = await import('@tensorflow/tfjs');
  const { openLM, plannedSteps, cycle, loopSettings } = await import('../train/lm.ts');
  const { encodePreference, collate } = await import('../train/examples.ts');
  const { trainLoop } = await import('../train/loop.ts');
  const { openReference } = await import('../train/reference.ts');
  const { dpoLoss } = await import('../rl/losses.ts');
  const { ldTokenWeights } = await import('../rl/ld-dpo.ts');
  const p = ctx.params;
  const lm = await openLM(ctx, { lora: p.lora });
  try {
    const data = ctx.inputs.data;
    const maxLen = p.max_seq_length;
    const enc = (recs: typeof data.train) => recs.map((r) => encodePreference(lm.tokenizer, r.prompt ?? '', r.chosen ?? '', r.rejected ?? '', maxLen, p.max_prompt_length, p.chat_template));
    const train = enc(data.train);
    const val = enc(data.validation);
    if (train.length === 0) throw lm.dataError(`dataset ${data.origin} has no training pairs`);
    const pad = lm.tokenizer.padId;
    type Pair = (typeof train)[number] & { refC: number; refR: number };
    const ldAlpha = p.ld_alpha;
    // The chosen and rejected batches of some pairs; with ld_alpha < 1 their loss masks carry the
    // LD-DPO weights (tokens past the pair's shared response length count ld_alpha), so the summed
    // log-probs below are the length-desensitised ones, for the policy and the reference alike.
    const pairBatches = (pairs: { chosen: (typeof train)[number]['chosen']; rejected: (typeof train)[number]['rejected'] }[]) => {
      const c = collate(pairs.map((x) => x.chosen), pad);
      const r = collate(pairs.map((x) => x.rejected), pad);
      if (ldAlpha < 1) {
        const w = ldTokenWeights(c.targetsMask, r.targetsMask, c.B, c.T, r.T, ldAlpha);
        c.targetsMask = w.chosen;
        r.targetsMask = w.rejected;
      }
      return { c, r };
    };
    // Reference log-probs, computed once before training (the reference never changes).
    const withRef = async (pairs: typeof train, model: typeof lm.model): Promise<Pair[]> => {
      const out: Pair[] = [];
      for (let i = 0; i < pairs.length; i += 16) {
        const chunk = pairs.slice(i, i + 16);
        const pb = pairBatches(chunk);
        const [c, r] = tf.tidy(() => [model.sequenceLogProbs(pb.c), model.sequenceLogProbs(pb.r)]);
        const [cv, rv] = [await c.data(), await r.data()];
        tf.dispose([c, r]);
        chunk.forEach((x, j) => out.push({ ...x, refC: cv[j], refR: rv[j] }));
      }
      return out;
    };
    // The reference: the given model, or the policy's starting weights (with LoRA, adapters off).
    const ref = await openReference(ctx, lm, { given: ctx.inputs.reference, duringTraining: false });
    let trainPairs: Pair[];
    let valPairs: Pair[];
    try {
      trainPairs = await ref.use((m) => withRef(train, m));
      valPairs = await ref.use((m) => withRef(val, m));
    } finally {
      ref.dispose();
    }
    const beta = p.beta;
    const lossType = p.loss;
    const smoothing = p.label_smoothing;
    const bs = p.batch_size;
    const total = plannedSteps(ctx.params, trainPairs.length);
    const next = cycle(trainPairs, bs, ctx.seed, ctx.node.id);
    // Response tokens per sequence (end-of-text included): IPO averages its log-ratios per token, as TRL.
    const responseTokens = (rows: Pair['chosen'][]) => tf.tensor1d(rows.map((r) => r.loss.reduce((a, v) => a + v, 0)));
    const lossOf = (b: Pair[]) => {
      const pb = pairBatches(b);
      return dpoLoss(
        {
          policyChosen: lm.model.sequenceLogProbs(pb.c),
          policyRejected: lm.model.sequenceLogProbs(pb.r),
          refChosen: tf.tensor1d(b.map((x) => x.refC)),
          refRejected: tf.tensor1d(b.map((x) => x.refR)),
          chosenTokens: responseTokens(b.map((x) => x.chosen)),
          rejectedTokens: responseTokens(b.map((x) => x.rejected)),
        },
        beta,
        lossType,
        smoothing,
      );
    };
    const evalSet = valPairs.length ? valPairs : trainPairs.slice(0, 128);
    const evaluate = async () => {
      let acc = 0;
      let margin = 0;
      let rc = 0;
      let rr = 0;
      let loss = 0;
      for (let i = 0; i < evalSet.length; i += bs) {
        const b = evalSet.slice(i, i + bs);
        const r = tf.tidy(() => {
          const o = lossOf(b);
          return [tf.mul(o.loss, b.length), o.chosenRewards, o.rejectedRewards];
        });
        const [l, c, j] = await Promise.all(r.map((t) => t.data()));
        tf.dispose(r);
        loss += l[0];
        c.forEach((x, k) => {
          rc += x;
          rr += j[k];
          margin += x - j[k];
          if (x > j[k]) acc++;
        });
      }
      const n = Math.max(evalSet.length, 1);
      return { eval_loss: loss / n, reward_accuracy: acc / n, reward_margin: margin / n, 'rewards/chosen': rc / n, 'rewards/rejected': rr / n };
    };
    ctx.reporter.note(`${trainPairs.length} pairs, ${valPairs.length} held out; ${total} steps; ${lm.describeTrainable()}; ${ref.note}`);
    const res = await trainLoop({
      ...lm.optimizerParts(p.optimizer, total),
      totalSteps: total,
      nextBatch: next,
      loss: (b) => lossOf(b).loss,
      tokens: (b) => b.reduce((s, x) => s + x.chosen.ids.length + x.rejected.ids.length, 0),
      evaluate,
      ...loopSettings(ctx, lm),
    });
    await lm.save(`${ctx.outDir}/model`);
    const e = res.eval;
    return {
      metrics: { steps: res.steps, train_loss: res.trainLoss, first_loss: res.firstLoss, ...e },
      headline: `loss ${res.firstLoss.toFixed(3)} → ${res.trainLoss.toFixed(3)}, held-out reward accuracy ${((e['reward_accuracy'] ?? NaN) * 100).toFixed(1)}%, margin ${(e['reward_margin'] ?? NaN).toFixed(3)}`,
    };
  } finally {
    lm.dispose();
  }
}
