// Stage `kto`: Kahneman-Tversky Optimization on unpaired thumbs-up / thumbs-down completions,
// following TRL 1.13's KTOTrainer (loss_type "kto"): with h = log π(y|x) − log π_ref(y|x) summed
// over the completion, a desirable example's loss is w_d · (1 − σ(β(h − z₀))) and an undesirable
// one's w_u · (1 − σ(β(z₀ − h))); z₀, the KL reference point, is the batch mean of h over
// mismatched pairs (each prompt with the previous example's completion, rotated within the batch),
// clamped at 0 and not differentiated. The reference is frozen.

import { float, input, stageSchema } from '../../core/schema.ts';
import { chatTemplate, maxPromptLength, maxSeqLength, modelRules } from './common.ts';
import { loop, lora, optimizer } from '../train/params.ts';
import type { ContextOf, StageOutcome } from '../stage-context.ts';

export const schema = stageSchema({
  kind: 'kto',
  doc: 'Kahneman-Tversky optimisation on unpaired completions labelled desirable (true) or undesirable (false).',
  params: {
    model: input('Policy to optimise; its starting weights are the reference unless `reference` is given.', ['causal_lm']),
    reference: input('Frozen reference model (default: the policy\'s starting weights).', ['causal_lm'], false),
    data: input('Unpaired examples (prompt, completion, label).', ['unpaired']),
    beta: float('Strength of the implicit KL constraint (TRL: beta).', 0.1, 0, undefined, { minExclusive: true }),
    desirable_weight: float('Weight of the loss of desirable (label true) examples.', 1.0, 0, undefined, { minExclusive: true }),
    undesirable_weight: float('Weight of the loss of undesirable (label false) examples.', 1.0, 0, undefined, { minExclusive: true }),
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
    if (p.max_prompt_length >= p.max_seq_length) out.push({ path: 'max_prompt_length', message: 'max_prompt_length must be smaller than max_seq_length' });
    // TRL refuses a per-device batch of 1: the mismatched pair of a lone example is itself, so z₀ would be its own reward.
    if (p.batch_size < 2) out.push({ path: 'batch_size', message: 'batch_size must be at least 2: the KL reference point is estimated from mismatched pairs within a batch' });
    return out;
  },
});

type Params = typeof schema.params;

// ---- run ----------------------------------------------------------------------------------
// The batch order is fixed in advance (seeded, as every stage), so the reference's log-probs of
// every batch's matched and mismatched pairs are computed once before training, like DPO's.

export async function run(ctx: ContextOf<Params>): Promise<StageOutcome> {
  const tf = await import('@tensorflow/tfjs');
  const { openLM, plannedSteps, cycle, loopSettings } = await import('../train/lm.ts');
  const { encodeCompletion, joinCompletion, collate } = await import('../train/examples.ts');
  const { trainLoop } = await import('../train/loop.ts');
  const { openReference } = await import('../train/reference.ts');
  const { ktoLoss, ktoReferencePoint } = await import('../rl/group.ts');
  const p = ctx.params;
  const lm = await openLM(ctx, { lora: p.lora });
  try {
    const data = ctx.inputs.data;
    const maxLen = p.max_seq_length;
    const pad = lm.tokenizer.padId;
    type Example = ReturnType<typeof encodeCompletion> & { label: boolean };
    const enc = (recs: typeof data.train): Example[] =>
      recs.map((r) => ({ ...encodeCompletion(lm.tokenizer, r.prompt ?? '', r.completion ?? '', maxLen, p.chat_template), label: r.label === true }));
    const train = enc(data.train);
    const val = enc(data.validation);
    if (train.length === 0) throw lm.dataError(`dataset ${data.origin} has no training examples`);
    const desirable = train.filter((x) => x.label).length;
    if (desirable === 0 || desirable === train.length) {
      ctx.reporter.note(`warning: every training example is ${desirable ? 'desirable' : 'undesirable'}; KTO learns from both kinds`);
    }
    /** A batch: matched rows (prompt i + completion i), mismatched rows (prompt i + completion i−1), labels, reference log-probs. */
    interface KtoBatch {
      rows: ReturnType<typeof joinCompletion>[];
      klRows: ReturnType<typeof joinCompletion>[];
      labels: boolean[];
      ref: number[];
      refKl: number[];
    }
    const rowsOf = (b: Example[]) => ({
      rows: b.map((x) => joinCompletion(x.prompt, x.completion, maxLen, p.max_prompt_length)),
      // TRL: (x_1, y_n), (x_2, y_1), …, (x_n, y_{n−1}) within each batch
      klRows: b.map((x, i) => joinCompletion(x.prompt, b[(i + b.length - 1) % b.length].completion, maxLen, p.max_prompt_length)),
      labels: b.map((x) => x.label),
    });
    const seqLogProbs = (model: typeof lm.model, rows: ReturnType<typeof joinCompletion>[]) => model.sequenceLogProbs(collate(rows, pad));
    const valuesOf = async (model: typeof lm.model, rows: ReturnType<typeof joinCompletion>[]) => {
      const out: number[] = [];
      for (let i = 0; i < rows.length; i += 16) {
        const t = tf.tidy(() => seqLogProbs(model, rows.slice(i, i + 16)));
        out.push(...(await t.data()));
        t.dispose();
      }
      return out;
    };
    const bs = p.batch_size;
    const total = plannedSteps(ctx.params, train.length);
    const next = cycle(train, bs, ctx.seed, ctx.node.id);
    const plain = Array.from({ length: total * p.grad_accum }, () => rowsOf(next()));
    const evalChunks: ReturnType<typeof rowsOf>[] = [];
    const evalSet = val.length ? val : train.slice(0, 128);
    for (let i = 0; i < evalSet.length; i += bs) evalChunks.push(rowsOf(evalSet.slice(i, i + bs)));
    const withRef = async (model: typeof lm.model, bs_: ReturnType<typeof rowsOf>[]): Promise<KtoBatch[]> => {
      const out: KtoBatch[] = [];
      for (const b of bs_) out.push({ ...b, ref: await valuesOf(model, b.rows), refKl: await valuesOf(model, b.klRows) });
      return out;
    };
    // The reference: the given model, or the policy's starting weights (with LoRA, adapters off).
    const ref = await openReference(ctx, lm, { given: ctx.inputs.reference, duringTraining: false });
    let batches: KtoBatch[];
    let evalBatches: KtoBatch[];
    try {
      batches = await ref.use((m) => withRef(m, plain));
      evalBatches = await ref.use((m) => withRef(m, evalChunks));
    } finally {
      ref.dispose();
    }
    let cursor = 0;
    /** z₀ from the policy's current log-probs of the mismatched pairs (read out: no gradient flows through it). */
    const z0 = new Map<KtoBatch, number>();
    const referencePoint = async (b: KtoBatch) => {
      const t = tf.tidy(() => seqLogProbs(lm.model, b.klRows));
      const v = Array.from(await t.data());
      t.dispose();
      return ktoReferencePoint(v, b.refKl);
    };
    const lossOf = (b: KtoBatch, kl: number) =>
      ktoLoss(
        { logps: seqLogProbs(lm.model, b.rows), refLogps: tf.tensor1d(b.ref), labels: tf.tensor1d(b.labels.map((l) => (l ? 1 : 0))), kl },
        { beta: p.beta, desirableWeight: p.desirable_weight, undesirableWeight: p.undesirable_weight },
      );
    const evaluate = async () => {
      let loss = 0;
      let n = 0;
      let rc = 0;
      let nc = 0;
      let rr = 0;
      let nr = 0;
      let kl = 0;
      for (const b of evalBatches) {
        const z = await referencePoint(b);
        const r = tf.tidy(() => {
          const o = lossOf(b, z);
          return [tf.mul(o.loss, b.rows.length), o.rewards];
        });
        const [l, rw] = await Promise.all(r.map((t) => t.data()));
        tf.dispose(r);
        loss += l[0];
        n += b.rows.length;
        kl += z * b.rows.length;
        rw.forEach((x, k) => {
          if (b.labels[k]) (rc += x), nc++;
          else (rr += x), nr++;
        });
      }
      const chosen = nc ? rc / nc : NaN;
      const rejected = nr ? rr / nr : NaN;
      return { eval_loss: loss / Math.max(n, 1), 'rewards/chosen': chosen, 'rewards/rejected': rejected, reward_margin: chosen - rejected, kl: kl / Math.max(n, 1) };
    };
    ctx.reporter.note(`${train.length} examples (${desirable} desirable, ${train.length - desirable} undesirable), ${val.length} held out; ${total} steps; ${lm.describeTrainable()}; ${ref.note}`);
    const res = await trainLoop({
      ...lm.optimizerParts(p.optimizer, total),
      totalSteps: total,
      nextBatch: () => batches[cursor++],
      // z₀ is read from the policy before the step (as TRL does), then held as a number
      prepare: async (b) => void z0.set(b, await referencePoint(b)),
      loss: (b) => lossOf(b, z0.get(b)!).loss,
      tokens: (b) => b.rows.reduce((s, x) => s + x.ids.length, 0),
      evaluate,
      ...loopSettings(ctx, lm),
    });
    await lm.save(`${ctx.outDir}/model`);
    const e = res.eval;
    return {
      metrics: { steps: res.steps, train_loss: res.trainLoss, first_loss: res.firstLoss, ...e },
      headline: `loss ${res.firstLoss.toFixed(3)} → ${res.trainLoss.toFixed(3)}, held-out reward margin ${(e['reward_margin'] ?? NaN).toFixed(3)} (desirable ${(e['rewards/chosen'] ?? NaN).toFixed(3)}, undesirable ${(e['rewards/rejected'] ?? NaN).toFixed(3)})`,
    };
  } finally {
    lm.dispose();
  }
}
