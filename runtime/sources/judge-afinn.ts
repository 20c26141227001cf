// The `afinn()` judge: AFINN-165 comparative sentiment (the `sentiment` package, loaded on first use).

import { createRequire } from 'node:module';
import type { Judge, JudgeSource } from './types.ts';

const require = createRequire(import.meta.url);

/** AFINN-165 comparative sentiment of the response: summed word scores / tokens (0 when empty). */
export function afinnJudge(): Judge {
  const Sentiment = require('sentiment') as new () => { analyze(s: string): { comparative: number } };
  const s = new Sentiment();
  return { name: 'afinn()', score: async (_p, rs) => rs.map((r) => s.analyze(r).comparative) };
}

export const afinn: JudgeSource = {
  name: 'afinn',
  doc: 'Sentiment of the response: AFINN comparative score (the `sentiment` package).',
  args: [],
  params: {},
  produces: 'judge',
  build: async () => afinnJudge(),
};
