// Judges score (prompt, response) pairs: built-in rule judges (./rules.ts), users' TypeScript
// functions (./user.ts), and, in the stages, reward models (runtime/train/scorer.ts).

import type { ResolvedParams } from '../../core/schema.ts';
import { afinnJudge, lengthJudge, vaderJudge, wordsJudge, type Judge } from './rules.ts';
import { userJudge } from './user.ts';

export { afinnJudge, lengthJudge, vaderJudge, wordsJudge, wordsOf, type Judge } from './rules.ts';
export { loadUserJudge, userJudge } from './user.ts';

/** Build a rule or user judge from its constructor name and resolved args (see runtime/sources/index.ts JUDGE_SOURCES). */
export async function makeJudge(constructor: string, args: ResolvedParams, baseDir: string): Promise<Judge> {
  switch (constructor) {
    case 'vader':
      return vaderJudge();
    case 'afinn':
      return afinnJudge((args['per_token'] as boolean | undefined) ?? true);
    case 'length':
      return lengthJudge((args['target'] as number) ?? 0);
    case 'words':
      return wordsJudge((args['list'] as string[]) ?? []);
    case 'fn':
      return userJudge(String(args['ref']), baseDir);
    default:
      throw new Error(`unknown judge constructor '${constructor}'`);
  }
}
