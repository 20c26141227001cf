// Stage `pretrain`: causal-LM training on raw text (domain pretraining).
// Tokenize, concatenate documents with end-of-text, cut into block_size chunks, train, report
// validation loss and perplexity.

import { input, str, stageSchema } from '../../core/schema.ts';
import { maxSeqLength, modelRules, tokenizerDoc } from './common.ts';
import { loop, optimizer } from '../train/params.ts';
import type { ContextOf, StageOutcome, DatasetArtifact } from '../stage-context.ts';

export const schema = stageSchema({
  kind: 'pretrain',
  doc: 'Causal-LM training on raw text; reports validation perplexity.',
  params: {
    model: input('Model to train: a `gpt` declaration, a loaded model, or an earlier stage\'s model.', ['causal_lm']),
    tokenizer: input(tokenizerDoc, ['tokenizer'], false),
    data: input('Raw text dataset.', ['text']),
    block_size: maxSeqLength(64, 'Tokens per training block.'),
    remainder: str('What to do with the tokens left after the last full block.', 'drop', ['drop', 'pad']),
    ...loop({ batch_size: 8, epochs: 1, eval_every: 100 }),
    optimizer,
  },
  outputs: { model: 'causal_lm' },
  carries: { model: 'model' },
  rules: (p, ctx) => modelRules(p, ctx, 'model', [{ path: 'block_size', value: p.block_size }]),
});

type Params = typeof schema.params;

// ---- run ----------------------------------------------------------------------------------

/** Unigram perplexity of `ids` under the token frequencies of `train`: the bar a model must clear. */
export function unigramPerplexity(train: number[][], ids: number[][], vocab: number): number {
  const counts = new Float64Array(vocab).fill(1); // add-one smoothing
  let total = vocab;
  for (const d of train) for (const t of d) (counts[t]++, total++);
  let nll = 0;
  let n = 0;
  for (const d of ids) for (const t of d) (nll -= Math.log(counts[t] / total), n++);
  return Math.exp(nll / Math.max(n, 1));
}

export async function run(ctx: ContextOf<Params>): Promise<StageOutcome> {
  const { openLM, evalLoss, batchIterator, plannedSteps, loopSettings } = await import('../train/lm.ts');
  const { packText, encodeDocument } = await import('../train/examples.ts');
  const { trainLoop } = await import('../train/loop.ts');
  const p = ctx.params;
  const lm = await openLM(ctx, { tokenizerInput: 'tokenizer' });
  try {
    const data = ctx.inputs.data;
    const blockSize = p.block_size;
    const enc = (recs: { text?: string }[]) => recs.map((r) => encodeDocument(lm.tokenizer, r.text ?? ''));
    const trainDocs = enc(data.train);
    const valDocs = enc(data.validation);
    const remainder = p.remainder;
    const trainRows = packText(trainDocs, blockSize, lm.tokenizer.eosId, remainder);
    const valRows = packText(valDocs, blockSize, lm.tokenizer.eosId, remainder);
    if (trainRows.length === 0) throw lm.dataError(`dataset ${data.origin} has fewer than ${blockSize + 1} tokens: nothing to train on`);
    const batches = batchIterator(trainRows, p.batch_size, lm.tokenizer.padId, ctx.seed, ctx.node.id);
    const total = plannedSteps(ctx.params, trainRows.length);
    const evaluate = valRows.length
      ? async () => {
          const loss = await evalLoss(lm, valRows, p.batch_size);
          return { val_loss: loss, val_ppl: Math.exp(loss) };
        }
      : undefined;
    ctx.reporter.note(`${trainRows.length} blocks of ${blockSize} tokens (${valRows.length} held out), ${total} steps`);
    const res = await trainLoop({
      ...lm.optimizerParts(p.optimizer, total),
      totalSteps: total,
      nextBatch: batches,
      loss: (b) => lm.lmLoss(b, true),
      tokens: (b) => b.B * b.T,
      evaluate,
      ...loopSettings(ctx, lm),
    });
    await lm.save(`${ctx.outDir}/model`);
    const unigram = unigramPerplexity(trainDocs, valDocs.length ? valDocs : trainDocs, lm.tokenizer.vocabSize);
    const metrics: Record<string, number> = { steps: res.steps, train_loss: res.trainLoss, first_loss: res.firstLoss, unigram_ppl: unigram, ...res.eval };
    const headline = res.eval['val_ppl'] !== undefined
      ? `val ppl ${res.eval['val_ppl'].toFixed(1)} (unigram ${unigram.toFixed(1)}), loss ${res.firstLoss.toFixed(2)} → ${res.trainLoss.toFixed(2)}`
      : `loss ${res.firstLoss.toFixed(2)} → ${res.trainLoss.toFixed(2)}`;
    return { metrics, headline };
  } finally {
    lm.dispose();
  }
}
