// Turning records into token rows and batches — pure functions, no tensors.
//
// Conventions shared by every stage:
// - A row is `ids` plus `loss` (1 where the token is a training target: response tokens for SFT,
//   every token for pretraining). The trainer shifts: position t predicts ids[t+1], and counts
//   only where loss[t+1] = 1.
// - Prompt and response are tokenized separately and concatenated, so the boundary between them
//   is exact (no BPE merge across it) and generation encodes prompts the same way.
// - End-of-text ends every response.

import type { Batch } from '../model/batch.ts';
import { UserError, diag } from '../../core/diagnostics.ts';
import { ChatTemplateError, type ChatMessage } from '../tokenizers/chat.ts';
import { withBos, type Tokenizer } from '../tokenizers/types.ts';

export interface Row {
  ids: number[];
  /** 1 = this token is a target of the loss. Same length as ids. */
  loss: number[];
  /** Packed rows: which example each token belongs to (0, 1, 2, ...); attention stays within one. */
  segments?: number[];
}

/** Split an SFT template at `{response}`: the part before (with `{prompt}` filled) is the prompt text. */
export function formatPair(template: string, prompt: string, response: string): { promptText: string; responseText: string } {
  const i = template.indexOf('{response}');
  if (i < 0) throw new Error('template lacks {response}'); // checked at compile time
  const promptText = template.slice(0, i).split('{prompt}').join(prompt);
  const responseText = response + template.slice(i + '{response}'.length).split('{prompt}').join(prompt);
  return { promptText, responseText };
}

/**
 * Prompt + response ids, cut to `maxLen`: the response keeps its start, the prompt keeps its end.
 * When both do not fit, the prompt keeps at most `maxLen - minResponse` tokens.
 */
export function joinTruncated(promptIds: number[], responseIds: number[], maxLen: number, maxPrompt = maxLen - 1): { ids: number[]; promptLen: number } {
  const minResponse = Math.min(responseIds.length, Math.max(1, Math.floor(maxLen / 4)));
  const keepPrompt = Math.min(promptIds.length, maxPrompt, maxLen - minResponse);
  const p = promptIds.slice(promptIds.length - keepPrompt);
  const r = responseIds.slice(0, maxLen - p.length);
  return { ids: [...p, ...r], promptLen: p.length };
}

/**
 * Characters that certainly hold `maxTokens` tokens: no token covers more than 256 characters (byte-level
 * BPE merges words in pieces of at most 256 bytes; GPT-2's longest token is shorter; characters are one).
 */
const CHARS_PER_TOKEN = 256;

/**
 * Text cut before tokenization so that tokenizing is linear in what is kept (a 1 MB response costs no
 * more than a short one): the start for a response, the end for a prompt. The first `maxTokens` tokens
 * of a kept start are exactly those of the whole text.
 */
export function clipForTokens(text: string, maxTokens: number, keep: 'start' | 'end'): string {
  const n = (maxTokens + 1) * CHARS_PER_TOKEN;
  if (text.length <= n) return text;
  return keep === 'start' ? text.slice(0, n) : text.slice(text.length - n);
}

// ---- chat templates (the `chat_template: true` stage switch) ----
// A prompt becomes one user turn rendered with the model's chat template and its generation prompt; a
// response is what the template adds after that for an assistant turn with the response as content
// (its end-of-turn tokens included, so no eos is appended), as TRL tokenizes conversational
// prompt-completion data: ids(prompt + completion) split at len(ids(prompt with generation prompt)).
// Rendered text is encoded with special tokens matched, as transformers does: the template writes
// them as text (and so do special-token literals inside the data, exactly as in transformers).

function renderChat(tok: Tokenizer, messages: ChatMessage[], addGenerationPrompt: boolean): string {
  if (!tok.renderChat) throw new UserError([diag('RLHF9002', `chat_template is true but the ${tok.kind} tokenizer has no chat template`)]);
  try {
    return tok.renderChat(messages, { addGenerationPrompt });
  } catch (e) {
    if (e instanceof ChatTemplateError || e instanceof Error) throw new UserError([diag('RLHF9002', `chat template: ${e.message}`)]);
    throw e;
  }
}

/** A prompt's ids through the chat template (one user turn and the generation prompt). */
export function encodeChatPrompt(tok: Tokenizer, prompt: string, maxLen: number): number[] {
  return tok.encode(renderChat(tok, [{ role: 'user', content: clipForTokens(prompt, maxLen, 'end') }], true), { allowSpecial: true });
}

/** Prompt and response ids through the chat template, split as TRL splits them. */
export function encodeChatPair(tok: Tokenizer, prompt: string, response: string, maxLen: number): { prompt: number[]; response: number[] } {
  const user: ChatMessage = { role: 'user', content: clipForTokens(prompt, maxLen, 'end') };
  const p = tok.encode(renderChat(tok, [user], true), { allowSpecial: true });
  const full = tok.encode(renderChat(tok, [user, { role: 'assistant', content: clipForTokens(response, maxLen, 'start') }], false), { allowSpecial: true });
  return { prompt: full.slice(0, p.length), response: full.slice(p.length) };
}

/** One SFT example: loss on the response (and its end-of-text) only, unless completionOnly is false. */
export function encodeSft(tok: Tokenizer, template: string, prompt: string, response: string, maxLen: number, completionOnly = true, chat = false): Row {
  const { promptText, responseText } = formatPair(template, prompt, response);
  const pair = chat ? encodeChatPair(tok, prompt, response, maxLen) : undefined;
  const { ids, promptLen } = pair
    ? joinTruncated(pair.prompt, pair.response, maxLen)
    : joinTruncated(withBos(tok, tok.encode(clipForTokens(promptText, maxLen, 'end'))), [...tok.encode(clipForTokens(responseText, maxLen, 'start')), tok.eosId], maxLen);
  const loss = ids.map((_, i) => (!completionOnly || i >= promptLen ? 1 : 0));
  // The first token has nothing before it to predict it from.
  loss[0] = 0;
  return { ids, loss };
}

/** A preference pair as two rows sharing the prompt; `loss` marks response tokens (DPO sums log-probs there). */
export function encodePreference(
  tok: Tokenizer,
  prompt: string,
  chosen: string,
  rejected: string,
  maxLen: number,
  maxPrompt = maxLen - 1,
  chat = false,
): { chosen: Row; rejected: Row } {
  const p = chat ? [] : withBos(tok, tok.encode(clipForTokens(prompt, maxLen, 'end')));
  const one = (resp: string): Row => {
    const pair = chat ? encodeChatPair(tok, prompt, resp, maxLen) : { prompt: p, response: [...tok.encode(clipForTokens(resp, maxLen, 'start')), tok.eosId] };
    const { ids, promptLen } = joinTruncated(pair.prompt, pair.response, maxLen, maxPrompt);
    return { ids, loss: ids.map((_, i) => (i >= promptLen && i > 0 ? 1 : 0)) };
  };
  return { chosen: one(chosen), rejected: one(rejected) };
}

/** An unpaired (KTO) example's prompt and completion ids (end-of-text ends the completion), joined by `joinCompletion`. */
export function encodeCompletion(tok: Tokenizer, prompt: string, completion: string, maxLen: number, chat = false): { prompt: number[]; completion: number[] } {
  if (chat) {
    const pair = encodeChatPair(tok, prompt, completion, maxLen);
    return { prompt: pair.prompt, completion: pair.response };
  }
  return { prompt: withBos(tok, tok.encode(clipForTokens(prompt, maxLen, 'end'))), completion: [...tok.encode(clipForTokens(completion, maxLen, 'start')), tok.eosId] };
}

/** Prompt + completion as one row, truncated as preference rows are; `loss` marks the completion's tokens. */
export function joinCompletion(promptIds: number[], completionIds: number[], maxLen: number, maxPrompt = maxLen - 1): Row {
  const { ids, promptLen } = joinTruncated(promptIds, completionIds, maxLen, maxPrompt);
  return { ids, loss: ids.map((_, i) => (i >= promptLen && i > 0 ? 1 : 0)) };
}

/** A pretraining document's ids: the model's bos first when it has one (Llama), then the text. */
export function encodeDocument(tok: Tokenizer, text: string): number[] {
  return withBos(tok, tok.encode(text));
}

/**
 * Pretraining blocks: documents joined with end-of-text and cut into rows of `blockSize + 1`
 * tokens (inputs and shifted targets). The remainder is dropped, or padded with loss 0.
 */
export function packText(docs: number[][], blockSize: number, eosId: number, remainder: 'drop' | 'pad'): Row[] {
  const stream: number[] = [];
  for (const d of docs) {
    for (const t of d) stream.push(t);
    stream.push(eosId);
  }
  const rows: Row[] = [];
  const n = blockSize + 1;
  // Blocks overlap by one token so every token is a target exactly once.
  for (let s = 0; s + 1 < stream.length; s += blockSize) {
    const ids = stream.slice(s, s + n);
    if (ids.length < n) {
      if (remainder === 'drop') break;
      const real = ids.length;
      while (ids.length < n) ids.push(eosId);
      rows.push({ ids, loss: ids.map((_, i) => (i > 0 && i < real ? 1 : 0)) });
    } else {
      rows.push({ ids, loss: ids.map((_, i) => (i > 0 ? 1 : 0)) });
    }
  }
  return rows;
}

/**
 * Pack short rows into rows of at most `maxLen` tokens (first fit, in order). Each packed row keeps
 * `segments` so attention and positions restart per example: no cross-contamination.
 */
export function packRows(rows: Row[], maxLen: number): Row[] {
  const out: Row[] = [];
  let cur: Row | undefined;
  let seg = 0;
  for (const r of rows) {
    if (!cur || cur.ids.length + r.ids.length > maxLen) {
      cur = { ids: [], loss: [], segments: [] };
      out.push(cur);
      seg = 0;
    }
    cur.ids.push(...r.ids);
    cur.loss.push(...r.loss);
    for (let i = 0; i < r.ids.length; i++) cur.segments!.push(seg);
    seg++;
  }
  return out;
}

export interface CollateOptions {
  side?: 'right' | 'left';
  /**
   * true (language modelling): inputs are ids[0..n-2] and targets ids[1..n-1], so a row of n tokens
   * gives n-1 positions. false (scoring a whole sequence, e.g. a reward model): inputs are all n ids.
   */
  shift?: boolean;
  /** Pad every row to this many positions (default: the longest in the batch). */
  fixedT?: number;
}

/** Pad rows to a common length on the right (or left), optionally shifting targets. */
export function collate(rows: Row[], padId: number, opts: CollateOptions = {}): Batch {
  const side = opts.side ?? 'right';
  const shift = opts.shift ?? true;
  const d = shift ? 1 : 0;
  const B = rows.length;
  const T = opts.fixedT ?? Math.max(1, ...rows.map((r) => r.ids.length - d));
  const ids = new Int32Array(B * T).fill(padId);
  const mask = new Float32Array(B * T);
  const targets = new Int32Array(B * T).fill(padId);
  const targetsMask = new Float32Array(B * T);
  const segments = new Int32Array(B * T);
  const lastIndex = new Int32Array(B);
  rows.forEach((r, b) => {
    const n = Math.min(r.ids.length - d, T);
    const off = side === 'right' ? 0 : T - n;
    for (let i = 0; i < n; i++) {
      const p = b * T + off + i;
      ids[p] = r.ids[i];
      mask[p] = 1;
      segments[p] = r.segments?.[i] ?? 0;
      if (shift) {
        targets[p] = r.ids[i + 1];
        // A packed row never predicts across an example boundary.
        const sameSegment = (r.segments?.[i + 1] ?? 0) === (r.segments?.[i] ?? 0);
        targetsMask[p] = sameSegment ? r.loss[i + 1] : 0;
      }
    }
    lastIndex[b] = off + n - 1;
  });
  return { B, T, ids, mask, targets, targetsMask, segments, lastIndex };
}
