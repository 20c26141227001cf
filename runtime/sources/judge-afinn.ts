// The `afinn(per_token)` judge: AFINN-165 sentiment (the `sentiment` package, loaded on first use).

import { createRequire } from 'node:module';
import { bool } from '../../core/schema.ts';
import type { Judge, JudgeSource } from './types.ts';

const require = createRequire(import.meta.url);

/**
 * AFINN-165 sentiment of the response (the `sentiment` package): summed word scores divided by the
 * number of tokens (its comparative score; 0 when empty), or with perToken false the summed score.
 */
export function afinnJudge(perToken = true): Judge {
  const Sentiment = require('sentiment') as new () => { analyze(s: string): { score: number; comparative: number } };
  const s = new Sentiment();
  return { name: perToken ? 'afinn()' : 'afinn(per_token: false)', score: async (_p, rs) => rs.map((r) => (perToken ? s.analyze(r).comparative : s.analyze(r).score)) };
}

export const afinn: JudgeSource = {
  name: 'afinn',
  doc: 'Sentiment of the response: AFINN-165 word scores of the `sentiment` package, summed, and by default divided by the number of tokens (its comparative score).',
  args: [{ name: 'per_token', spec: bool('Divide the summed score by the number of tokens (true: the comparative score, which favours short responses; false: the summed score).', true) }],
  params: {},
  produces: 'judge',
  build: async (a) => afinnJudge((a['per_token'] as boolean | undefined) ?? true),
};
