// Stage `generate`: sample responses to prompts and write them as a pairs dataset.

import { input, int, stageSchema } from '../../core/schema.ts';
import { chatTemplate, maxPromptLength, samplingRules } from './common.ts';
import { generation } from '../train/params.ts';
import type { DatasetArtifact, ContextOf, StageOutcome } from '../stage-context.ts';

export const schema = stageSchema({
  kind: 'generate',
  doc: 'Sample a response per prompt; writes prompt/response pairs.',
  params: {
    model: input('Model that writes the responses.', ['causal_lm']),
    prompts: input('Prompts to answer.', ['prompts']),
    max_prompts: int('Use at most this many prompts (0: all).', 0, 0),
    max_prompt_length: maxPromptLength(32),
    chat_template: chatTemplate,
    generation: generation({ max_new_tokens: 32, temperature: 0.7 }),
  },
  outputs: { data: 'pairs' },
  rules: (p, ctx) => samplingRules(p, ctx, 'model'),
});

type Params = typeof schema.params;

// ---- run ----------------------------------------------------------------------------------

export async function run(ctx: ContextOf<Params>): Promise<StageOutcome> {
  const { openLM } = await import('../train/lm.ts');
  const { sampleResponses } = await import('../train/sampling.ts');
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const p = ctx.params;
  const lm = await openLM(ctx);
  try {
    const src = ctx.inputs.prompts;
    const write = async (name: string, prompts: string[]) => {
      const s = await sampleResponses(lm.model, lm.tokenizer, prompts, p.generation, p.max_prompt_length, ctx.seed + name.length, { chat: p.chat_template });
      writeFileSync(`${ctx.outDir}/data/${name}.jsonl`, prompts.map((q, i) => JSON.stringify({ prompt: q, response: s.texts[i] })).join('\n') + (prompts.length ? '\n' : ''));
      return s;
    };
    const cap = (xs: string[]) => (p.max_prompts > 0 ? xs.slice(0, p.max_prompts) : xs);
    mkdirSync(`${ctx.outDir}/data`, { recursive: true });
    const train = cap(src.train.map((r) => r.prompt ?? ''));
    const s = await write('train', train);
    await write('validation', cap(src.validation.map((r) => r.prompt ?? '')));
    s.texts.slice(0, 4).forEach((t, i) => ctx.reporter.log({ step: i, sample: `${JSON.stringify(train[i])} → ${JSON.stringify(t)}` }));
    const meanLen = s.responseIds.reduce((a, r) => a + r.length, 0) / Math.max(s.responseIds.length, 1);
    return { metrics: { responses: train.length, mean_tokens: meanLen }, headline: `${train.length} responses, ${meanLen.toFixed(1)} tokens on average` };
  } finally {
    lm.dispose();
  }
}
