// Stage `judge` (RLAIF): sample several responses per prompt, score them with a judge, and write a
// preference dataset (chosen = highest score, rejected = lowest) for `reward` or `dpo`.

import { input, int, str, stageSchema } from '../../core/schema.ts';
import { maxPromptLength, samplingRules } from './common.ts';
import { generation } from '../train/params.ts';
import type { DatasetArtifact, DataRecord, ContextOf, StageOutcome } from '../stage-context.ts';

export const schema = stageSchema({
  kind: 'judge',
  doc: 'Label preference pairs with an AI or rule judge (RLAIF).',
  params: {
    model: input('Model that writes the candidate responses.', ['causal_lm']),
    prompts: input('Prompts to answer.', ['prompts']),
    judge: input('Scores each (prompt, response): a rule judge, a user function, or a reward model.', ['judge', 'reward_model']),
    samples_per_prompt: int('Responses sampled per prompt.', 2, 2, 64),
    max_prompts: int('Use at most this many prompts (0: all).', 0, 0),
    max_prompt_length: maxPromptLength(32),
    ties: str('Pairs whose best and worst scores are equal.', 'drop', ['drop', 'random']),
    generation: generation({ max_new_tokens: 24, temperature: 1.0 }),
  },
  outputs: { data: 'preferences' },
  rules: (p, ctx) => samplingRules(p, ctx, 'model'),
});

type Params = typeof schema.params;

// ---- run ----------------------------------------------------------------------------------

export async function run(ctx: ContextOf<Params>): Promise<StageOutcome> {
  const { openLM } = await import('../train/lm.ts');
  const { openScorer } = await import('../train/scorer.ts');
  const { sampleResponses } = await import('../train/sampling.ts');
  const { shuffle, splitDataset } = await import('../data/split.ts');
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const p = ctx.params;
  const lm = await openLM(ctx);
  const scorer = await openScorer(ctx, 'judge');
  try {
    const src = ctx.inputs.prompts;
    const sources = (p.max_prompts > 0 ? src.train.slice(0, p.max_prompts) : src.train) as unknown as Record<string, unknown>[];
    const prompts = sources.map((r) => (typeof r['prompt'] === 'string' ? r['prompt'] : ''));
    if (prompts.length === 0) throw lm.dataError(`dataset ${src.origin} has no prompts`);
    const n = p.samples_per_prompt;
    ctx.reporter.note(`${prompts.length} prompts × ${n} samples, judged by ${scorer.name}`);
    ctx.reporter.start(n, 'round');
    // Round k samples one response for every prompt (different seeds per round).
    const responses: string[][] = prompts.map(() => []);
    const scores: number[][] = prompts.map(() => []);
    for (let k = 0; k < n; k++) {
      const { Interrupted, letSignalsIn } = await import('../train/resume.ts');
      await letSignalsIn(); // a Ctrl-C during the last round is seen now
      if (ctx.signal.aborted) {
        // Partial labels must never be committed as the stage's result: stop without output.
        ctx.reporter.stop();
        throw new Interrupted(k, n, undefined);
      }
      const s = await sampleResponses(lm.model, lm.tokenizer, prompts, p.generation, p.max_prompt_length, ctx.seed * 131 + k);
      const sc = await scorer.score(prompts, s.texts, sources);
      s.texts.forEach((t, i) => (responses[i].push(t), scores[i].push(sc[i])));
      ctx.reporter.tick(k + 1, { mean: sc.reduce((a, b) => a + b, 0) / sc.length });
    }
    ctx.reporter.stop();
    const records: DataRecord[] = [];
    let ties = 0;
    prompts.forEach((prompt, i) => {
      const sc = scores[i];
      let best = 0;
      let worst = 0;
      sc.forEach((v, j) => {
        if (v > sc[best]) best = j;
        if (v < sc[worst]) worst = j;
      });
      if (sc[best] === sc[worst]) {
        ties++;
        if (p.ties === 'drop') return;
        // Ties broken by the seed: a seeded choice of two distinct samples.
        const [a, b] = shuffle([...sc.keys()], `${ctx.seed}:${i}`);
        best = a;
        worst = b;
      }
      records.push({ prompt, chosen: responses[i][best], rejected: responses[i][worst], margin: sc[best] - sc[worst] });
    });
    if (records.length === 0) throw lm.dataError(`every prompt's samples scored the same (${ties} ties): no preference pairs; use ties: random or more samples_per_prompt`);
    const { train, validation } = splitDataset(records, { validation: 0.1, seed: ctx.seed });
    const dir = `${ctx.outDir}/data`;
    mkdirSync(dir, { recursive: true });
    const jsonl = (rs: DataRecord[]) => rs.map((r) => JSON.stringify(r)).join('\n') + (rs.length ? '\n' : '');
    writeFileSync(`${dir}/train.jsonl`, jsonl(train));
    writeFileSync(`${dir}/validation.jsonl`, jsonl(validation));
    const meanMargin = records.reduce((s, r) => s + (r.margin ?? 0), 0) / records.length;
    const all = scores.flat();
    const metrics = { pairs: records.length, ties, mean_score: all.reduce((a, b) => a + b, 0) / all.length, mean_margin: meanMargin };
    for (const [i, r] of records.slice(0, 3).entries()) ctx.reporter.log({ step: i, sample: `${JSON.stringify(r.prompt)}: chosen ${JSON.stringify(r.chosen)} over ${JSON.stringify(r.rejected)}` });
    return { metrics, headline: `${records.length} preference pairs (${ties} ties ${p.ties === 'drop' ? 'dropped' : 'broken'}), mean margin ${meanMargin.toFixed(3)}` };
  } finally {
    scorer.dispose();
    lm.dispose();
  }
}
