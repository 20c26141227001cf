// The `vader()` judge: VADER compound sentiment of the response (vader-sentiment, loaded on first use).

import { createRequire } from 'node:module';
import type { Judge, JudgeSource } from './types.ts';

const require = createRequire(import.meta.url);

/** VADER compound sentiment of the response, in [−1, 1] (0 for an empty response). */
export function vaderJudge(): Judge {
  const { SentimentIntensityAnalyzer } = require('vader-sentiment') as { SentimentIntensityAnalyzer: { polarity_scores(s: string): { compound: number } } };
  return { name: 'vader()', score: async (_p, rs) => rs.map((r) => SentimentIntensityAnalyzer.polarity_scores(r).compound) };
}

export const vader: JudgeSource = {
  name: 'vader',
  doc: 'Sentiment of the response: VADER compound score in [-1, 1] (vader-sentiment).',
  args: [],
  params: {},
  produces: 'judge',
  build: async () => vaderJudge(),
};
