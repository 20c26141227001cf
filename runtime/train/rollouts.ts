// Rollouts of the on-policy stages (ppo with k = 1, grpo, rloo): each prompt of a step is answered
// `k` times by the current policy, every answer is scored by each reward source, and the batch is
// laid out for the token-level losses (prompt + response rows, response-token masks). The
// algorithms turn rewards into advantages their own way.

import type { CausalLM } from '../model/causal-lm.ts';
import type { Batch } from '../model/batch.ts';
import type { Tokenizer } from '../tokenizers/index.ts';
import { weightedRewards } from '../rl/group.ts';
import { collate } from './examples.ts';
import { sampleResponses } from './sampling.ts';
import type { Scorer } from './scorer.ts';
import type { GenerationParams } from './params.ts';

export interface Rollout {
  /** The prompts as answered: each prompt of the step `k` times in a row. */
  prompts: string[];
  texts: string[];
  responseIds: number[][];
  /** Rows that hit max_new_tokens without end-of-text. */
  truncated: boolean[];
  /** rewards per source [source][completion]; their weighted sum plus the length shaping per completion. */
  perSource: number[][];
  rewards: number[];
  /** The length-shaping part of each reward (0 without shaping). */
  lengthRewards: number[];
  /** Prompt + response rows; targetsMask marks response tokens (with truncated rows zeroed when masked). */
  batch: Batch;
  /** Response tokens per row that count in the loss. */
  tokens: number[];
}

/** Sample `k` answers per prompt record, score them with every source (user functions also get the record), and collate the batch. */
export async function rollout(
  model: CausalLM,
  tok: Tokenizer,
  stepRecords: readonly { prompt?: string }[],
  k: number,
  o: { gen: GenerationParams; maxPromptLength: number; chat?: boolean; seed: number; scorers: Scorer[]; weights?: number[]; maskTruncated: boolean; shaping?: (tokens: number) => number },
): Promise<Rollout> {
  const records = stepRecords.flatMap((r) => Array.from({ length: k }, () => r));
  const prompts = records.map((r) => r.prompt ?? '');
  const s = await sampleResponses(model, tok, prompts, o.gen, o.maxPromptLength, o.seed, { chat: o.chat });
  const perSource: number[][] = [];
  for (const scorer of o.scorers) perSource.push(await scorer.score(prompts, s.texts, records));
  const lengthRewards = s.responseIds.map((r) => o.shaping?.(r.length) ?? 0);
  const rewards = weightedRewards(perSource, o.weights).map((r, i) => r + lengthRewards[i]);
  const truncated = s.responseIds.map((r) => r[r.length - 1] !== tok.eosId);
  const rows = s.promptIds.map((q, i) => {
    const r = s.responseIds[i].length ? s.responseIds[i] : [tok.eosId];
    const counts = !(o.maskTruncated && truncated[i]);
    return { ids: [...q, ...r], loss: [...q.map(() => 0), ...r.map(() => (counts ? 1 : 0))] };
  });
  const batch = collate(rows, tok.padId);
  const tokens = rows.map((_, b) => {
    let n = 0;
    for (let t = 0; t < batch.T; t++) n += batch.targetsMask[b * batch.T + t];
    return n;
  });
  return { prompts, texts: s.texts, responseIds: s.responseIds, truncated, perSource, rewards, lengthRewards, batch, tokens };
}

/** Rows `idx` of a [B, T] row-major array. */
export function rowsOf<A extends Float32Array | Int32Array>(a: A, idx: number[], T: number): A {
  const out = new (a.constructor as new (n: number) => A)(idx.length * T);
  idx.forEach((b, r) => out.set(a.subarray(b * T, (b + 1) * T), r * T));
  return out;
}

/** Mean, standard deviation, min and max of numbers, for the log. */
export function summary(xs: number[]): { mean: number; std: number; min: number; max: number } {
  const n = xs.length;
  const mean = n ? xs.reduce((a, b) => a + b, 0) / n : Number.NaN;
  const std = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, min: n ? Math.min(...xs) : Number.NaN, max: n ? Math.max(...xs) : Number.NaN };
}
