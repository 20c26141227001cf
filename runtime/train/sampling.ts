// Sampling responses for the stages that generate (ppo, judge, generate, eval): prompts are
// encoded, cut to their last `maxPromptLength` tokens (an empty prompt starts from end-of-text,
// as GPT-2 does), generated in chunks with the KV cache, and decoded.

import { clipForTokens } from './examples.ts';
import type { Tokenizer } from '../tokenizers/index.ts';
import type { CausalLM } from '../model/causal-lm.ts';
import { generate } from '../model/decode.ts';
import type { ResolvedParams } from '../../core/schema.ts';

export interface Sampled {
  promptIds: number[][];
  /** Generated ids per row, without padding; ends with eos when the model stopped by itself. */
  responseIds: number[][];
  /** Decoded responses, without the end-of-text token. */
  texts: string[];
}

export function encodePrompts(tok: Tokenizer, prompts: string[], maxPromptLength: number): number[][] {
  return prompts.map((p) => {
    const ids = tok.encode(clipForTokens(p, maxPromptLength, 'end'));
    return ids.length ? ids.slice(-maxPromptLength) : [tok.eosId];
  });
}

export function decodeResponse(tok: Tokenizer, ids: number[]): string {
  return tok.decode(ids.filter((t) => t !== tok.eosId));
}

/** Sample one response per prompt with the `generation { ... }` params. */
export function sampleResponses(model: CausalLM, tok: Tokenizer, prompts: string[], gen: ResolvedParams, maxPromptLength: number, seed: number, chunk = 32): Sampled {
  const promptIds = encodePrompts(tok, prompts, maxPromptLength);
  const responseIds: number[][] = [];
  for (let i = 0; i < promptIds.length; i += chunk) {
    const g = generate(model, promptIds.slice(i, i + chunk), {
      maxNewTokens: gen['max_new_tokens'] as number,
      minNewTokens: gen['min_new_tokens'] as number,
      temperature: gen['temperature'] as number,
      topK: gen['top_k'] as number,
      topP: gen['top_p'] as number,
      eosId: tok.eosId,
      padId: tok.padId,
      seed: seed * 7919 + i,
    });
    responseIds.push(...g.tokens);
  }
  return { promptIds, responseIds, texts: responseIds.map((r) => decodeResponse(tok, r)) };
}
