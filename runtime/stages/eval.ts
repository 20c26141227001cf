// Stage `eval`: score several models' generations on held-out prompts with a judge, measure their
// KL to a reference model and how degenerate their answers are (length, diversity, repetition,
// next to the reference's); writes a report.

import { input, inputs, int, stageSchema } from '../../core/schema.ts';
import { chatTemplate, maxPromptLength, samplingRules } from './common.ts';
import { generation } from '../train/params.ts';
import type { DatasetArtifact, ModelArtifact, ContextOf, StageOutcome } from '../stage-context.ts';

export const schema = stageSchema({
  kind: 'eval',
  doc: 'Compare models: mean judge score (read as accuracy ± standard error when every score is 0 or 1) and KL to a reference on held-out prompts.',
  params: {
    models: inputs('Models to evaluate.', ['causal_lm']),
    reference: input('Reference for KL (e.g. the SFT model).', ['causal_lm'], false),
    prompts: input('Held-out prompts.', ['prompts']),
    judge: input('Scores responses; ideally one not used in training.', ['judge', 'reward_model']),
    max_prompts: int('Use at most this many prompts (0: all).', 64, 0),
    max_prompt_length: maxPromptLength(32, 'models[0]'),
    chat_template: chatTemplate,
    samples: int('Sample generations kept in the report per model.', 4, 0),
    generation: generation({ max_new_tokens: 24, temperature: 0.7 }),
  },
  outputs: { report: 'report' },
  rules: (p, ctx) =>
    Object.keys(ctx.inputs)
      .filter((k) => k.startsWith('models['))
      .flatMap((k) => samplingRules(p, ctx, k).map((v) => ({ ...v, message: `${k}: ${v.message}` }))),
});

type Params = typeof schema.params;

const nullIfNaN = (x: number) => (Number.isNaN(x) ? null : x);

// ---- run ----------------------------------------------------------------------------------
// For each model: sample responses to the held-out prompts (the validation split), score them with
// the judge, and estimate KL(π ‖ ref) = E_{y~π}[Σ_t log π(y_t) − log ref(y_t)] on those samples,
// with both distributions at the sampling temperature.

export async function run(ctx: ContextOf<Params>): Promise<StageOutcome> {
  const tf = await import('@tensorflow/tfjs');
  const { openLM } = await import('../train/lm.ts');
  const { openScorer } = await import('../train/scorer.ts');
  const { sampleResponses } = await import('../train/sampling.ts');
  const { collate } = await import('../train/examples.ts');
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const { correlation, degenerationStats, hackingFlags, lengthDrivenGain } = await import('../text-stats.ts');
  const p = ctx.params;
  const gen = p.generation;
  const src = ctx.inputs.prompts;
  let records = src.validation.length ? src.validation : src.train;
  if (p.max_prompts > 0) records = records.slice(0, p.max_prompts);
  const prompts = records.map((r) => r.prompt ?? '');
  if (prompts.length === 0) throw new Error('no prompts to evaluate on');
  const heldOut = src.validation.length > 0;
  const scorer = await openScorer(ctx, 'judge');
  const ref = ctx.inputs['reference'] ? await openLM({ ...ctx, inputs: { model: ctx.inputs['reference'] } }) : undefined;
  const modelKeys = Object.keys(ctx.inputs)
    .filter((k) => k.startsWith('models['))
    .sort((a, b) => Number(a.slice(7, -1)) - Number(b.slice(7, -1)));
  const names = modelKeys.map((k) => {
    const b = ctx.node.inputs[k];
    return b.node.startsWith('stage:') ? `${b.node.slice(6)}.${b.output}` : b.node;
  });
  const seqLogProbs = async (m: import('../model/causal-lm.ts').CausalLM, rows: { ids: number[]; loss: number[] }[]) => {
    const out: number[] = [];
    for (let i = 0; i < rows.length; i += 32) {
      const b = collate(rows.slice(i, i + 32), 0); // padding is masked out
      const r = tf.tidy(() => m.sequenceLogProbs(b, { temperature: gen.temperature }));
      out.push(...(await r.data()));
      r.dispose();
    }
    return out;
  };
  const rowsOf = (q: number[][], r: number[][]) => q.map((x, i) => ({ ids: [...x, ...r[i]], loss: [...x.map(() => 0), ...r[i].map(() => 1)] }));
  type Stats = import('../text-stats.ts').DegenerationStats;
  type Answers = import('../text-stats.ts').ScoredAnswers;
  const results: { model: string; mean_score: number; stderr: number; kl?: number; mean_tokens: number; length_corr: number | null; length_gain?: { gain: number; predicted: number; slope: number; t: number }; degeneration: Stats; flags?: string[]; samples: { prompt: string; response: string; score: number }[] }[] = [];
  const answers: Answers[] = [];
  const allScores: number[] = [];
  ctx.reporter.start(modelKeys.length, 'model');
  try {
    for (const [i, key] of modelKeys.entries()) {
      const lm = await openLM({ ...ctx, inputs: { model: ctx.inputs[key] as ModelArtifact } });
      try {
        const s = await sampleResponses(lm.model, lm.tokenizer, prompts, gen, p.max_prompt_length, ctx.seed, { chat: p.chat_template });
        const scores = await scorer.score(prompts, s.texts, records as unknown as Record<string, unknown>[]);
        allScores.push(...scores);
        const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
        const sd = Math.sqrt(scores.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(scores.length - 1, 1));
        let kl: number | undefined;
        if (ref) {
          const rows = rowsOf(s.promptIds, s.responseIds.map((r) => (r.length ? r : [lm.tokenizer.eosId])));
          const a = await seqLogProbs(lm.model, rows);
          const b = await seqLogProbs(ref.model, rows);
          kl = a.reduce((acc, x, j) => acc + x - b[j], 0) / a.length;
        }
        results.push({
          model: names[i],
          mean_score: mean,
          stderr: sd / Math.sqrt(scores.length),
          kl,
          mean_tokens: s.responseIds.reduce((acc, r) => acc + r.length, 0) / s.responseIds.length,
          // does the judge's score follow answer length? (null: no spread in either)
          length_corr: nullIfNaN(correlation(scores, s.responseIds.map((r) => r.length))),
          degeneration: degenerationStats(s.texts, s.responseIds.map((r) => r.length)),
          samples: prompts.slice(0, p.samples).map((q, j) => ({ prompt: q, response: s.texts[j], score: scores[j] })),
        });
        answers.push({ scores, lengths: s.responseIds.map((r) => r.length) });
        const r = results[results.length - 1];
        const d = r.degeneration;
        ctx.reporter.log({ step: i, model: r.model, mean_score: r.mean_score, stderr: r.stderr, ...(kl !== undefined ? { kl } : {}), ...(r.length_corr !== null ? { length_corr: r.length_corr } : {}), mean_words: d.words.mean, empty_rate: d.empty_rate, distinct_1: d.distinct_1, distinct_2: d.distinct_2, repetition_2: d.repetition_2, ...Object.fromEntries(r.samples.map((x, j) => [`sample_${j}`, `[${r.model}] ${JSON.stringify(x.prompt)} → ${JSON.stringify(x.response)} (${x.score.toFixed(3)})`])) });
        ctx.reporter.tick(i + 1, { score: mean });
      } finally {
        lm.dispose();
      }
    }
    // Degeneration and length-driven gains are judged against the reference's own answers: those of
    // the evaluated model that is the reference, else the reference sampled (and judged) on the same prompts.
    if (ref) {
      const refBinding = ctx.node.inputs['reference'];
      const same = modelKeys.findIndex((k) => ctx.node.inputs[k].node === refBinding.node && ctx.node.inputs[k].output === refBinding.output);
      let refStats = results[same]?.degeneration;
      let refAnswers = answers[same];
      if (same < 0) {
        const s = await sampleResponses(ref.model, ref.tokenizer, prompts, gen, p.max_prompt_length, ctx.seed, { chat: p.chat_template });
        refStats = degenerationStats(s.texts);
        refAnswers = { scores: await scorer.score(prompts, s.texts, records as unknown as Record<string, unknown>[]), lengths: s.responseIds.map((r) => r.length) };
      }
      results.forEach((r, j) => {
        if (j === same) return;
        const g = lengthDrivenGain(answers[j], refAnswers);
        r.length_gain = { gain: g.gain, predicted: g.predicted, slope: g.slope, t: g.t };
        r.flags = [...hackingFlags(r.degeneration, refStats), ...(g.flag ? [g.flag] : [])];
      });
    }
  } finally {
    ctx.reporter.stop();
    scorer.dispose();
    ref?.dispose();
  }
  // A judge that gave every answer 0 or 1 (an exact-match verifier) is read as accuracy: the mean is
  // the fraction correct and stderr its standard error, shown in percent.
  const accuracy = allScores.every((x) => x === 0 || x === 1);
  mkdirSync(`${ctx.outDir}/report`, { recursive: true });
  const report = { judge: scorer.name, prompts: prompts.length, held_out: heldOut, temperature: gen.temperature, accuracy, results };
  writeFileSync(`${ctx.outDir}/report/report.json`, JSON.stringify(report, null, 2) + '\n');
  const value = (r: (typeof results)[number]) => (accuracy ? `accuracy ${(100 * r.mean_score).toFixed(1)}% ± ${(100 * r.stderr).toFixed(1)}%` : `score ${r.mean_score.toFixed(3)} ± ${r.stderr.toFixed(3)}`);
  const table = results.map((r) => `${r.model}: ${value(r)}${r.kl !== undefined ? `, KL ${r.kl.toFixed(2)}` : ''}`).join('; ');
  const metrics: Record<string, number> = {};
  for (const r of results) {
    metrics[`score/${r.model}`] = r.mean_score;
    if (r.kl !== undefined) metrics[`kl/${r.model}`] = r.kl;
    metrics[`mean_words/${r.model}`] = r.degeneration.words.mean;
    metrics[`distinct_2/${r.model}`] = r.degeneration.distinct_2;
    if (r.length_corr !== null) metrics[`length_corr/${r.model}`] = r.length_corr;
  }
  const flagged = results.filter((r) => r.flags?.length).map((r) => r.model);
  const warning = flagged.length ? ` — possible reward hacking: ${flagged.join(', ')}` : '';
  return { metrics, headline: `${scorer.name} on ${prompts.length} ${heldOut ? 'held-out ' : ''}prompts — ${table}${warning}` };
}
