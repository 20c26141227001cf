// The `words([...])` judge: the share of the response's words that are in a list.

import { list } from '../../core/schema.ts';
import { wordsOf, type Judge, type JudgeSource } from './types.ts';

/** Fraction of the response's words that are in the list (case-insensitive; 0 for an empty response). */
export function wordsJudge(words: string[]): Judge {
  const set = new Set(words.map((w) => w.toLowerCase()));
  return {
    name: `words([${words.length} words])`,
    score: async (_p, rs) =>
      rs.map((r) => {
        const ws = wordsOf(r);
        return ws.length ? ws.filter((w) => set.has(w)).length / ws.length : 0;
      }),
  };
}

export const words: JudgeSource = {
  name: 'words',
  doc: "Fraction of the response's words that are in the list.",
  args: [{ name: 'list', spec: { ...list('Words that count.', 'string'), required: true } }],
  params: {},
  produces: 'judge',
  build: async (a) => wordsJudge((a['list'] as string[]) ?? []),
};
