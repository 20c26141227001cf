// Built-in rule judges: deterministic functions of the response text that need no model.
// vader() and afinn() wrap the vader-sentiment and sentiment packages (loaded on first use).

import { createRequire } from 'node:module';

/** Anything that scores (prompt, response) pairs; one number per pair, in order. */
export interface Judge {
  name: string;
  score(prompts: string[], responses: string[]): Promise<number[]>;
}

const require = createRequire(import.meta.url);

/** Lower-cased words (letters, digits, apostrophes), the unit of length() and words(). */
export function wordsOf(s: string): string[] {
  return s.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];
}

/** VADER compound sentiment of the response, in [−1, 1] (0 for an empty response). */
export function vaderJudge(): Judge {
  const { SentimentIntensityAnalyzer } = require('vader-sentiment') as { SentimentIntensityAnalyzer: { polarity_scores(s: string): { compound: number } } };
  return { name: 'vader()', score: async (_p, rs) => rs.map((r) => SentimentIntensityAnalyzer.polarity_scores(r).compound) };
}

/**
 * AFINN-165 sentiment of the response (the `sentiment` package): summed word scores divided by the
 * number of tokens (its comparative score; 0 when empty), or with perToken false the summed score.
 */
export function afinnJudge(perToken = true): Judge {
  const Sentiment = require('sentiment') as new () => { analyze(s: string): { score: number; comparative: number } };
  const s = new Sentiment();
  return { name: perToken ? 'afinn()' : 'afinn(per_token: false)', score: async (_p, rs) => rs.map((r) => (perToken ? s.analyze(r).comparative : s.analyze(r).score)) };
}

/** Word count of the response, or −|count − target| when target > 0 (closer to the target is better). */
export function lengthJudge(target = 0): Judge {
  return { name: `length(${target})`, score: async (_p, rs) => rs.map((r) => (target > 0 ? 0 - Math.abs(wordsOf(r).length - target) : wordsOf(r).length)) };
}

/** Fraction of the response's words that are in the list (case-insensitive; 0 for an empty response). */
export function wordsJudge(list: string[]): Judge {
  const set = new Set(list.map((w) => w.toLowerCase()));
  return {
    name: `words([${list.length} words])`,
    score: async (_p, rs) =>
      rs.map((r) => {
        const ws = wordsOf(r);
        return ws.length ? ws.filter((w) => set.has(w)).length / ws.length : 0;
      }),
  };
}
