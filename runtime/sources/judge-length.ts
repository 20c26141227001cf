// The `length(target)` judge: the response's length in words, or its distance from a target.

import { int } from '../../core/schema.ts';
import { wordsOf, type Judge, type JudgeSource } from './types.ts';

/** Word count of the response, or −|count − target| when target > 0 (closer to the target is better). */
export function lengthJudge(target = 0): Judge {
  return { name: `length(${target})`, score: async (_p, rs) => rs.map((r) => (target > 0 ? 0 - Math.abs(wordsOf(r).length - target) : wordsOf(r).length)) };
}

export const length: JudgeSource = {
  name: 'length',
  doc: 'Length in words: −|words − target| when target > 0, else the word count.',
  args: [{ name: 'target', spec: int('Target length in words (0: longer is better).', 0, 0) }],
  params: {},
  produces: 'judge',
  build: async (a) => lengthJudge((a['target'] as number) ?? 0),
};
