// Length shaping for the RL stages (ppo, grpo, rloo): rewards added to a response's score that depend
// on its length alone, so a policy cannot gain by answers that run into the limit or shrink to
// nothing. Pure functions of token counts, plus the `length { ... }` parameter block the stages share.
//
//   overlong (DAPO eq. 13, TRL 1.13 `get_soft_overlong_punishment`): 0 up to L_max − L_cache tokens,
//     then falling linearly to −1 at L_max, −1 beyond; L_max is the stage's generation.max_new_tokens.
//   short floor: (n − floor) / floor for answers shorter than `floor` tokens, 0 from `floor` on — the
//     mirror image, for reward models that prefer short answers.
// n counts the answer's tokens with its end-of-text, as TRL counts a completion's length.
// Each is weighted and added to the score before any scaling or clipping of it.

import { block, float, int, type ParamsOf } from '../../core/schema.ts';

/** TRL's soft overlong punishment of a completion of `n` tokens (0 when cache is 0 and n ≤ maxLen). */
export function softOverlong(n: number, maxLen: number, cache: number): number {
  if (n <= maxLen - cache) return 0;
  if (n <= maxLen) return (maxLen - cache - n) / cache;
  return -1;
}

/** The short-answer penalty of a response of `n` tokens below `floor` (0 when floor is 0). */
export function shortFloor(n: number, floor: number): number {
  return floor > 0 && n < floor ? (n - floor) / floor : 0;
}

const FIELDS = {
  overlong_cache: int('Soft over-length penalty (DAPO; TRL get_soft_overlong_punishment): answers longer than generation.max_new_tokens − overlong_cache tokens lose up to 1 linearly, reaching −1 at the limit (0: off).', 0, 0),
  overlong_weight: float('Weight of the over-length penalty.', 1, 0),
  floor: int('Answers shorter than this many tokens (end-of-text counted) are penalised by (length − floor) / floor (0: off).', 0, 0),
  floor_weight: float('Weight of the short-answer penalty.', 1, 0),
};

export const lengthShaping = block('Length shaping: rewards that depend on answer length alone, added to each score (before scaling and clipping).', 'always', FIELDS);

export type LengthShaping = ParamsOf<typeof FIELDS>;

/** The shaping reward of one response of `n` tokens, under a stage's `length` block and its max_new_tokens. */
export function lengthReward(n: number, p: LengthShaping, maxNewTokens: number): number {
  let r = 0;
  if (p.overlong_cache > 0) r += p.overlong_weight * softOverlong(n, maxNewTokens, p.overlong_cache);
  if (p.floor > 0) r += p.floor_weight * shortFloor(n, p.floor);
  return r;
}
