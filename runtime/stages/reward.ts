// Stage `reward`: a reward model — a causal-LM body with a scalar head read at the last non-padding
// token — trained on (prompt, chosen, rejected) with the pairwise loss −log σ(r_c − r_r − margin);
// with `length_debias { }` the ODIN loss (runtime/rl/odin.ts) with a length head that is not saved in
// the model (resumable checkpoints carry it: runtime/train/resume.ts saves every variable an optimizer trains).

import { bool, float, input, stageSchema } from '../../core/schema.ts';
import { maxSeqLength, modelRules, tokenizerDoc } from './common.ts';
import { lora, loop, optimizer } from '../train/params.ts';
import { lengthDebias } from '../rl/odin.ts';
import type { DatasetArtifact, ContextOf, StageOutcome } from '../stage-context.ts';
import type { Row } from '../train/examples.ts';

export const schema = stageSchema({
  kind: 'reward',
  doc: 'Reward model on preference pairs; reports held-out accuracy.',
  params: {
    model: input('Body to start from (a causal LM).', ['causal_lm']),
    tokenizer: input(tokenizerDoc, ['tokenizer'], false),
    data: input('Preference triples (prompt, chosen, rejected[, margin]).', ['preferences']),
    max_seq_length: maxSeqLength(128),
    use_margin: bool('Subtract the dataset\'s margin column inside the sigmoid when present.', true),
    center_rewards: float('Coefficient c of the centering term c · mean((r_chosen + r_rejected)²) (0: off).', 0, 0),
    length_debias: lengthDebias,
    lora,
    ...loop({ batch_size: 8, epochs: 1, eval_every: 50 }),
    optimizer,
  },
  outputs: { model: 'reward_model' },
  carries: { model: 'model' },
  rules: (p, ctx) => modelRules(p, ctx, 'model', [{ path: 'max_seq_length', value: p.max_seq_length }]),
});

type Params = typeof schema.params;

// ---- run ----------------------------------------------------------------------------------

export async function run(ctx: ContextOf<Params>): Promise<StageOutcome> {
  const { openLM, pairIterator, plannedSteps, loopSettings } = await import('../train/lm.ts');
  const { encodePreference } = await import('../train/examples.ts');
  const { trainLoop } = await import('../train/loop.ts');
  const p = ctx.params;
  const lm = await openLM(ctx, { tokenizerInput: 'tokenizer', lora: p.lora, head: 'reward' });
  const debias = p.length_debias;
  // ODIN's length output: trained with the body and the reward head, never saved.
  const lengthHead = debias ? lm.newLengthHead(ctx.seed) : undefined;
  try {
    const data = ctx.inputs.data;
    const maxLen = p.max_seq_length;
    type Pair = { chosen: Row; rejected: Row; margin: number };
    const encode = (recs: typeof data.train): Pair[] =>
      recs.map((r) => ({ ...encodePreference(lm.tokenizer, r.prompt ?? '', r.chosen ?? '', r.rejected ?? '', maxLen), margin: p.use_margin ? (r.margin ?? 0) : 0 }));
    const train = encode(data.train);
    const val = encode(data.validation);
    if (train.length === 0) throw lm.dataError(`dataset ${data.origin} has no training pairs`);
    const bs = p.batch_size;
    const total = plannedSteps(ctx.params, train.length);
    const centering = p.center_rewards;
    const evalSet = val.length ? val : train.slice(0, 256);
    const evaluate = async () => {
      const m = await lm.pairAccuracy(evalSet, bs);
      return { eval_accuracy: m.accuracy, eval_margin: m.margin, eval_length_corr: await lm.lengthCorrelation(evalSet, bs) };
    };
    ctx.reporter.note(`${train.length} pairs, ${val.length} held out; ${total} steps; ${lm.describeTrainable()}${debias ? `; ODIN length head (correlation ${debias.correlation}, orthogonality ${debias.orthogonality})` : ''}`);
    const before = await lm.pairAccuracy(evalSet, bs);
    const lengthCorrBefore = await lm.lengthCorrelation(evalSet, bs);
    const res = await trainLoop({
      ...lm.optimizerParts(p.optimizer, total, lengthHead ? new Map([['odin_length_head', lengthHead]]) : undefined),
      totalSteps: total,
      nextBatch: pairIterator(train, bs, ctx.seed, ctx.node.id, lm.tokenizer.padId),
      loss: (b) => (debias && lengthHead ? lm.odinLoss(b, centering, debias, lengthHead).loss : lm.pairLoss(b, centering)),
      tokens: (b) => b.chosen.B * b.chosen.T + b.rejected.B * b.rejected.T,
      evaluate,
      ...loopSettings(ctx, lm),
    });
    await lm.save(`${ctx.outDir}/model`);
    const metrics: Record<string, number> = {
      steps: res.steps,
      train_loss: res.trainLoss,
      first_loss: res.firstLoss,
      accuracy_before: before.accuracy,
      length_corr_before: lengthCorrBefore,
      ...res.eval,
    };
    return {
      metrics,
      headline: `held-out accuracy ${(before.accuracy * 100).toFixed(1)}% → ${((res.eval['eval_accuracy'] ?? NaN) * 100).toFixed(1)}% (${evalSet.length} pairs), margin ${(res.eval['eval_margin'] ?? NaN).toFixed(2)}, score–length correlation ${(res.eval['eval_length_corr'] ?? NaN).toFixed(2)}`,
    };
  } finally {
    lengthHead?.dispose();
    lm.dispose();
  }
}
