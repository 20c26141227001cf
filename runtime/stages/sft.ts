// Stage `sft`: supervised fine-tuning on prompt/response pairs, loss on the response only by
// default, optionally with LoRA adapters.

import { bool, input, str, stageSchema } from '../../core/schema.ts';
import { chatTemplate, maxSeqLength, modelRules, tokenizerDoc } from './common.ts';
import { lora, loop, optimizer } from '../train/params.ts';
import type { DatasetArtifact, ContextOf, StageOutcome } from '../stage-context.ts';

export const schema = stageSchema({
  kind: 'sft',
  doc: 'Supervised fine-tuning on prompt/response pairs (LoRA or full).',
  params: {
    model: input('Model to fine-tune.', ['causal_lm']),
    tokenizer: input(tokenizerDoc, ['tokenizer'], false),
    data: input('Prompt/response pairs.', ['pairs']),
    template: str('How a pair becomes text; must contain {prompt} and {response}. End-of-text is appended.', '{prompt}\n{response}'),
    completion_only: bool('Compute the loss on response tokens only.', true),
    max_seq_length: maxSeqLength(128),
    chat_template: chatTemplate,
    packing: bool('Pack several examples per row (attention does not cross examples).', false),
    lora,
    ...loop({ batch_size: 8, epochs: 3, eval_every: 50 }),
    optimizer,
  },
  outputs: { model: 'causal_lm' },
  carries: { model: 'model' },
  rules: (p, ctx) => {
    const out = modelRules(p, ctx, 'model', [{ path: 'max_seq_length', value: p.max_seq_length }]);
    const t = p.template;
    for (const f of ['{prompt}', '{response}']) {
      if (!t.includes(f)) out.push({ path: 'template', message: `template must contain ${f}` });
    }
    const iResp = t.indexOf('{response}');
    if (t.includes('{prompt}') && iResp >= 0 && t.indexOf('{prompt}') > iResp) {
      out.push({ path: 'template', message: '{prompt} must come before {response} (the loss mask covers what follows the prompt)' });
    }
    return out;
  },
});

type Params = typeof schema.params;

// ---- run ----------------------------------------------------------------------------------

export async function run(ctx: ContextOf<Params>): Promise<StageOutcome> {
  const { openLM, evalLoss, batchIterator, plannedSteps, loopSettings } = await import('../train/lm.ts');
  const { encodeSft, packRows } = await import('../train/examples.ts');
  const { trainLoop } = await import('../train/loop.ts');
  const p = ctx.params;
  const lm = await openLM(ctx, { tokenizerInput: 'tokenizer', lora: p.lora });
  try {
    const data = ctx.inputs.data;
    const maxLen = p.max_seq_length;
    const encode = (recs: typeof data.train) =>
      recs.map((r) => encodeSft(lm.tokenizer, p.template, r.prompt ?? '', r.response ?? '', maxLen, p.completion_only, p.chat_template));
    let trainRows = encode(data.train);
    const valRows = encode(data.validation);
    if (p.packing) trainRows = packRows(trainRows, maxLen);
    if (trainRows.length === 0) throw lm.dataError(`dataset ${data.origin} has no training records`);
    const bs = p.batch_size;
    const total = plannedSteps(ctx.params, trainRows.length);
    const evaluate = valRows.length
      ? async () => {
          const loss = await evalLoss(lm, valRows, bs);
          return { val_loss: loss, val_ppl: Math.exp(loss) };
        }
      : undefined;
    ctx.reporter.note(
      `${data.train.length} pairs${p.packing ? ` packed into ${trainRows.length} rows` : ''}, ${valRows.length} held out; ${total} steps; ${lm.describeTrainable()}`,
    );
    const res = await trainLoop({
      ...lm.optimizerParts(p.optimizer, total),
      totalSteps: total,
      nextBatch: batchIterator(trainRows, bs, lm.tokenizer.padId, ctx.seed, ctx.node.id),
      loss: (b) => lm.lmLoss(b, true),
      tokens: (b) => b.B * b.T,
      evaluate,
      ...loopSettings(ctx, lm),
    });
    await lm.save(`${ctx.outDir}/model`);
    const metrics: Record<string, number> = { steps: res.steps, train_loss: res.trainLoss, first_loss: res.firstLoss, ...res.eval };
    const val = res.eval['val_loss'] !== undefined ? `, val loss ${res.eval['val_loss'].toFixed(3)}` : '';
    return { metrics, headline: `response loss ${res.firstLoss.toFixed(2)} → ${res.trainLoss.toFixed(2)}${val}` };
  } finally {
    lm.dispose();
  }
}
