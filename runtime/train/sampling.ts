// Sampling responses for the stages that generate (ppo, grpo, rloo, judge, generate, eval): prompts are
// encoded, cut to their last `maxPromptLength` tokens (an empty prompt starts from end-of-text,
// as GPT-2 does), generated in chunks with the KV cache, and decoded.

import { clipForTokens, encodeChatPrompt } from './examples.ts';
import { withBos, type Tokenizer } from '../tokenizers/index.ts';
import type { CausalLM } from '../model/causal-lm.ts';
import { generate } from '../model/decode.ts';
import type { GenerationParams } from './params.ts';

export interface Sampled {
  promptIds: number[][];
  /** Generated ids per row, without padding; ends with eos when the model stopped by itself. */
  responseIds: number[][];
  /** Decoded responses, without the end-of-text token. */
  texts: string[];
}

export function encodePrompts(tok: Tokenizer, prompts: string[], maxPromptLength: number, chat = false): number[][] {
  return prompts.map((p) => {
    if (chat) return encodeChatPrompt(tok, p, maxPromptLength).slice(-maxPromptLength);
    const ids = tok.encode(clipForTokens(p, maxPromptLength, 'end'));
    if (tok.bosId !== undefined) return withBos(tok, ids.slice(-(maxPromptLength - 1))); // a model with bos starts from it
    return ids.length ? ids.slice(-maxPromptLength) : [tok.eosId];
  });
}

export function decodeResponse(tok: Tokenizer, ids: number[]): string {
  return tok.decode(ids.filter((t) => t !== tok.eosId));
}

/** Sample one response per prompt with the `generation { ... }` params. */
export async function sampleResponses(model: CausalLM, tok: Tokenizer, prompts: string[], gen: GenerationParams, maxPromptLength: number, seed: number, opts: { chunk?: number; chat?: boolean } = {}): Promise<Sampled> {
  const chunk = opts.chunk ?? 32;
  const promptIds = encodePrompts(tok, prompts, maxPromptLength, opts.chat);
  const responseIds: number[][] = [];
  for (let i = 0; i < promptIds.length; i += chunk) {
    const g = await generate(model, promptIds.slice(i, i + chunk), {
      maxNewTokens: gen.max_new_tokens,
      minNewTokens: gen.min_new_tokens,
      temperature: gen.temperature,
      topK: gen.top_k,
      topP: gen.top_p,
      eosId: tok.eosId,
      padId: tok.padId,
      seed: seed * 7919 + i,
      vocab: tok.vocabSize,
    });
    responseIds.push(...g.tokens);
  }
  return { promptIds, responseIds, texts: responseIds.map((r) => decodeResponse(tok, r)) };
}
