// Batched sampling with a KV cache. Prompts are left-padded so every row's next token sits at the
// same position; finished rows (eos seen) emit padding with mask 0. Sampling happens on the JS side
// with a seeded Rng, so results are reproducible on every backend.

import { UserError, diag } from '../../core/diagnostics.ts';
import * as tf from '@tensorflow/tfjs';
import type { CausalLM, KVCache, KVSlots } from './causal-lm.ts';
import { Rng } from '../rng.ts';

export interface GenerateOptions {
  maxNewTokens: number;
  /** eos is suppressed until this many tokens were generated (default 0). */
  minNewTokens?: number;
  /** 0 = greedy (default 1). */
  temperature?: number;
  /** Keep only the k most likely tokens (0 = off). */
  topK?: number;
  /** Nucleus sampling: keep the smallest set with probability ≥ topP (1 = off). */
  topP?: number;
  eosId: number;
  padId: number;
  seed?: number;
  /** Use the KV cache (default true); false recomputes the whole sequence every step. */
  useCache?: boolean;
  /** Ids at or above this are never sampled: the tokenizer's size, when the model's embedding is padded beyond it (default: all). */
  vocab?: number;
}

export interface Generation {
  /** Generated ids per row, without padding (ends with eos when the row finished). */
  tokens: number[][];
  /** Whether each row produced eos. */
  finished: boolean[];
  /** Full sequences [B, L] row-major: left-padded prompt (P positions) + generated tokens. */
  ids: Int32Array;
  /** 1 for real tokens, 0 for padding, [B, L]. */
  mask: Float32Array;
  B: number;
  L: number;
  /** Prompt positions (after left padding); generated tokens start here. */
  promptLength: number;
}

/** Pick a token from one row of logits. Exported for tests. */
export function sampleToken(logits: Float32Array, o: { temperature: number; topK: number; topP: number }, rng: Rng): number {
  const V = logits.length;
  // NaN logits (damaged weights, a diverged run) would pick no token at all: a clear error instead.
  for (let i = 0; i < V; i++) {
    if (Number.isNaN(logits[i]) || logits[i] === Infinity) {
      throw new UserError([diag('RLHF9003', 'the model produced non-finite logits (NaN or Infinity) while sampling', undefined, { notes: ['its weights are damaged or training diverged: check the model folder, or lower the learning rate'] })]);
    }
  }
  if (o.temperature <= 0) {
    let best = 0;
    for (let i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  let idx = byLogitDescending(logits);
  if (o.topK > 0 && o.topK < idx.length) idx = idx.subarray(0, o.topK);
  const max = logits[idx[0]];
  let probs = new Float64Array(idx.length);
  let total = 0;
  for (let j = 0; j < idx.length; j++) total += probs[j] = Math.exp((logits[idx[j]] - max) / o.temperature);
  if (o.topP < 1) {
    let cum = 0;
    let keep = idx.length;
    for (let j = 0; j < idx.length; j++) {
      cum += probs[j] / total;
      if (cum >= o.topP) {
        keep = j + 1;
        break;
      }
    }
    idx = idx.subarray(0, keep);
    probs = probs.subarray(0, keep);
    total = 0;
    for (let j = 0; j < keep; j++) total += probs[j];
  }
  let u = rng.next() * total;
  for (let j = 0; j < idx.length; j++) {
    u -= probs[j];
    if (u <= 0) return idx[j];
  }
  return idx[idx.length - 1];
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * Indices of the finite logits (> −Infinity), by logit descending, ties by index ascending (the order
 * of a stable sort): a stable LSD radix sort (3 passes of 11 bits) of the float32 order bits. A
 * comparator sort of GPT-2's 50,257 logits took 8 ms per token, the larger share of a decode step.
 */
function byLogitDescending(logits: Float32Array): Uint32Array {
  const V = logits.length;
  let keys = new Uint32Array(V);
  let idx = new Uint32Array(V);
  let n = 0;
  for (let i = 0; i < V; i++) {
    const x = logits[i];
    if (!(x > -Infinity)) continue;
    f32[0] = x === 0 ? 0 : x; // −0 and +0 tie
    const u = u32[0];
    const ascending = u & 0x80000000 ? ~u >>> 0 : (u | 0x80000000) >>> 0; // float order as unsigned order
    keys[n] = ~ascending >>> 0; // descending
    idx[n++] = i;
  }
  let keys2 = new Uint32Array(n);
  let idx2 = new Uint32Array(n);
  const count = new Uint32Array(2048);
  for (let shift = 0; shift < 32; shift += 11) {
    count.fill(0);
    for (let j = 0; j < n; j++) count[(keys[j] >>> shift) & 2047]++;
    let sum = 0;
    for (let d = 0; d < 2048; d++) {
      const c = count[d];
      count[d] = sum;
      sum += c;
    }
    for (let j = 0; j < n; j++) {
      const at = count[(keys[j] >>> shift) & 2047]++;
      keys2[at] = keys[j];
      idx2[at] = idx[j];
    }
    [keys, keys2, idx, idx2] = [keys2, keys, idx2, idx];
  }
  return idx.subarray(0, n);
}

/** Sample continuations of `prompts` (token id lists, at least one token each). */
export async function generate(model: CausalLM, prompts: number[][], o: GenerateOptions): Promise<Generation> {
  const B = prompts.length;
  if (B === 0) throw new Error('generate: no prompts');
  if (prompts.some((p) => p.length === 0)) throw new Error('generate: every prompt needs at least one token');
  const P = Math.max(...prompts.map((p) => p.length));
  const room = model.config.context - P;
  if (room <= 0) throw new Error(`generate: prompts of ${P} tokens leave no room in the model's context of ${model.config.context}`);
  const maxNew = Math.min(o.maxNewTokens, room);
  const L = P + maxNew;
  const V = model.config.vocabSize;
  const rng = new Rng(o.seed ?? 0);
  const sampling = { temperature: o.temperature ?? 1, topK: o.topK ?? 0, topP: o.topP ?? 1 };
  const minNew = o.minNewTokens ?? 0;
  const ids = new Int32Array(B * L).fill(o.padId);
  const mask = new Float32Array(B * L);
  prompts.forEach((p, b) => {
    const off = P - p.length;
    for (let i = 0; i < p.length; i++) {
      ids[b * L + off + i] = p[i];
      mask[b * L + off + i] = 1;
    }
  });
  const tokens: number[][] = prompts.map(() => []);
  const finished = prompts.map(() => false);
  const useCache = o.useCache ?? true;
  let cache: KVCache | undefined;
  // native and webgpu backends: one preallocated cache written in place; elsewhere a cache grown by concatenation
  const slots: KVSlots | undefined = useCache ? model.kvSlots(B, L) : undefined;

  /** Logits [B,V] at position `len − 1` given the first `len` positions. */
  const nextLogits = async (len: number): Promise<Float32Array> => {
    const cols = (a: Int32Array | Float32Array, from: number, to: number, dtype: 'int32' | 'float32') => {
      const out = dtype === 'int32' ? new Int32Array(B * (to - from)) : new Float32Array(B * (to - from));
      for (let b = 0; b < B; b++) out.set(a.subarray(b * L + from, b * L + to), b * (to - from));
      return tf.tensor2d(out, [B, to - from], dtype);
    };
    /** Hidden states [B,T,C] → the last position's [B,C]. */
    const last = (h: tf.Tensor3D) => tf.reshape(tf.slice(h, [0, h.shape[1] - 1, 0], [B, 1, -1]), [B, -1]);
    // Tidy returns [logits, ...keys, ...values] so the cache survives it.
    const out = tf.tidy((): tf.Tensor[] => {
      const maskT = cols(mask, 0, len, 'float32');
      if (!useCache) {
        return [model.head(last(model.hidden(cols(ids, 0, len, 'int32'), maskT)))];
      }
      if (slots) {
        return [model.head(last(model.forward(cols(ids, slots.length, len, 'int32'), maskT, { kv: slots }).hidden))];
      }
      const from = cache ? len - 1 : 0;
      const r = model.forward(cols(ids, from, len, 'int32'), maskT, { past: cache, returnCache: true });
      return [model.head(last(r.hidden)), ...r.cache!.k, ...r.cache!.v];
    });
    const [logits, ...kv] = out;
    if (kv.length) {
      if (cache) tf.dispose([...cache.k, ...cache.v]);
      const n = kv.length / 2;
      cache = { k: kv.slice(0, n) as tf.Tensor4D[], v: kv.slice(n) as tf.Tensor4D[] };
    }
    // read asynchronously: the one read per token (WebGPU has no synchronous read in Node)
    const data = (await logits.data()) as Float32Array;
    logits.dispose();
    return data;
  };

  try {
    for (let s = 0; s < maxNew; s++) {
      const logits = await nextLogits(P + s);
      for (let b = 0; b < B; b++) {
        const pos = b * L + P + s;
        if (finished[b]) continue; // stays pad, mask 0
        const row = logits.slice(b * V, (b + 1) * V);
        if (s < minNew && o.eosId < V) row[o.eosId] = -Infinity;
        if (o.vocab !== undefined && o.vocab < V) row.fill(-Infinity, o.vocab);
        const t = sampleToken(row, sampling, rng);
        ids[pos] = t;
        mask[pos] = 1;
        tokens[b].push(t);
        if (t === o.eosId) finished[b] = true;
      }
      if (finished.every(Boolean)) {
        return trim(P + s + 1);
      }
    }
    return trim(L);
  } finally {
    if (cache) tf.dispose([...cache.k, ...cache.v]);
    if (slots) tf.dispose([...slots.k, ...slots.v]);
  }

  function trim(len: number): Generation {
    if (len === L) return { tokens, finished, ids, mask, B, L, promptLength: P };
    const ids2 = new Int32Array(B * len);
    const mask2 = new Float32Array(B * len);
    for (let b = 0; b < B; b++) {
      ids2.set(ids.subarray(b * L, b * L + len), b * len);
      mask2.set(mask.subarray(b * L, b * L + len), b * len);
    }
    return { tokens, finished, ids: ids2, mask: mask2, B, L: len, promptLength: P };
  }
}
