// Byte-level BPE: trained on a corpus (GPT-2 pre-tokenization, 256 byte tokens + merges + `<|endoftext|>`)
// or loaded from a Hugging Face `tokenizer.json` (model type BPE, ByteLevel pre-tokenizer/decoder).

import { BYTE_TO_CHAR, preTokenize, tokenToBytes, utf8, utf8Decoder } from './bytes.ts';
import { PairHeap } from './heap.ts';
import { BPE_MIN_VOCAB, EOT, type EncodeOptions, type Tokenizer } from './types.ts';
import { writeTokenizerFiles } from './files.ts';

const KEY = 0x100000; // pair key = a * KEY + b (ids < 2^20)
const pairKey = (a: number, b: number): number => a * KEY + b;

export interface BpeTrainOptions {
  /** Final vocabulary size including the 256 byte tokens and `<|endoftext|>`; at least BPE_MIN_VOCAB. */
  vocabSize: number;
  /** Pairs seen fewer times than this are never merged (training stops early). Default 2. */
  minFrequency?: number;
}

/** Byte-level BPE tokenizer. Token ids index `tokens`; `merges` are in rank order. */
export class BpeTokenizer implements Tokenizer {
  readonly kind = 'bpe' as const;
  readonly eosId: number;
  readonly padId: number;
  /** Byte-level strings (GPT-2 byte↔unicode table) of every id; the eos id holds `<|endoftext|>`. */
  readonly tokens: readonly string[];
  /** Merges in rank order, as id pairs. */
  readonly merges: readonly (readonly [number, number])[];
  private readonly byteIds: Int32Array;
  private readonly tokenBytes: Uint8Array[];
  private readonly mergeMap: MergeMap = new Map();
  private cache = new Map<string, number[]>();

  constructor(tokens: readonly string[], merges: readonly (readonly [number, number])[], eosId: number) {
    this.tokens = tokens;
    this.merges = merges;
    this.eosId = eosId;
    this.padId = eosId;
    const index = new Map(tokens.map((t, i) => [t, i]));
    this.byteIds = new Int32Array(256);
    for (let b = 0; b < 256; b++) {
      const id = index.get(BYTE_TO_CHAR[b]);
      if (id === undefined) throw new Error(`byte-level BPE vocabulary lacks the token for byte ${b}`);
      this.byteIds[b] = id;
    }
    this.tokenBytes = tokens.map((t, i) => (i === eosId ? utf8.encode(EOT) : Uint8Array.from(tokenToBytes(t) ?? [])));
    merges.forEach(([a, b], rank) => {
      const id = index.get(tokens[a] + tokens[b]);
      if (id === undefined) throw new Error(`merge '${tokens[a]} ${tokens[b]}' produces a token missing from the vocabulary`);
      if (!this.mergeMap.has(pairKey(a, b))) this.mergeMap.set(pairKey(a, b), { rank, id });
    });
  }

  get vocabSize(): number {
    return this.tokens.length;
  }

  get scorePad(): { token: string; id: number } {
    return { token: BYTE_TO_CHAR[0xff], id: this.byteIds[0xff] };
  }

  /** Train on `texts`. Deterministic: same texts and options → same merges. */
  static train(texts: Iterable<string>, opts: BpeTrainOptions): BpeTokenizer {
    const { tokens, merges } = trainMerges(texts, opts);
    tokens.push(EOT);
    return new BpeTokenizer(tokens, merges, tokens.length - 1);
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    const parts = opts.allowSpecial ? text.split(EOT) : [text];
    parts.forEach((part, i) => {
      if (i > 0) out.push(this.eosId);
      for (const word of preTokenize(part)) {
        for (const id of this.encodeWord(word)) out.push(id);
      }
    });
    return out;
  }

  private encodeWord(word: string): number[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    // Bounded: merging is quadratic in a word's length, so an unbroken word longer than MAX_WORD_BYTES
    // (a 1 MB run of letters in the data) is merged in chunks of that many bytes — linear overall.
    const bytes = utf8.encode(word);
    if (bytes.length > MAX_WORD_BYTES) {
      const out: number[] = [];
      for (let at = 0; at < bytes.length; ) {
        let end = Math.min(bytes.length, at + MAX_WORD_BYTES);
        while (end < bytes.length && (bytes[end] & 0xc0) === 0x80) end--; // never split a character
        for (const id of applyMerges(bytes.subarray(at, end), this.byteIds, this.mergeMap)) out.push(id);
        at = end;
      }
      return out;
    }
    const ids = applyMerges(bytes, this.byteIds, this.mergeMap);
    if (this.cache.size > 100_000) this.cache = new Map();
    this.cache.set(word, ids);
    return ids;
  }

  decode(ids: readonly number[]): string {
    const chunks: Uint8Array[] = [];
    let n = 0;
    for (const id of ids) {
      const b = this.tokenBytes[id];
      if (b === undefined) throw new RangeError(`token id ${id} is outside the vocabulary (size ${this.vocabSize})`);
      chunks.push(b);
      n += b.length;
    }
    const all = new Uint8Array(n);
    let o = 0;
    for (const c of chunks) {
      all.set(c, o);
      o += c.length;
    }
    return utf8Decoder.decode(all);
  }

  /** The Hugging Face `tokenizer.json` object (model BPE, ByteLevel pre-tokenizer and decoder). */
  toJSON(): object {
    // like GPT-2's own file: <|endoftext|> is both in the vocab and an added (special) token
    const vocab: Record<string, number> = {};
    this.tokens.forEach((t, i) => (vocab[t] = i));
    const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
    return {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: [
        { id: this.eosId, content: EOT, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
      ],
      normalizer: null,
      pre_tokenizer: byteLevel,
      post_processor: { ...byteLevel, trim_offsets: false },
      decoder: byteLevel,
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: '',
        end_of_word_suffix: '',
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: false,
        vocab,
        merges: this.merges.map(([a, b]) => [this.tokens[a], this.tokens[b]]),
      },
    };
  }

  /** Build from a parsed Hugging Face `tokenizer.json` (merges as "a b" strings or [a, b] pairs). */
  static fromJSON(json: unknown): BpeTokenizer {
    const j = json as { model?: { type?: string; vocab?: Record<string, number>; merges?: unknown[] }; added_tokens?: { id: number; content: string }[] };
    if (!j?.model || j.model.type !== 'BPE' || typeof j.model.vocab !== 'object' || !Array.isArray(j.model.merges)) {
      throw new Error('not a BPE tokenizer.json (expected model.type "BPE" with vocab and merges)');
    }
    const entries: [string, number][] = Object.entries(j.model.vocab);
    for (const t of j.added_tokens ?? []) entries.push([t.content, t.id]);
    let size = 0; // a loop, not Math.max(...ids): 300k arguments overflow the stack
    for (const [, id] of entries) if (id >= size) size = id + 1;
    const tokens: string[] = new Array(size).fill('');
    for (const [t, id] of entries) {
      if (!Number.isInteger(id) || id < 0) throw new Error(`invalid token id ${id} for '${t}'`);
      tokens[id] = t;
    }
    const eos = entries.find(([t]) => t === EOT);
    if (!eos) throw new Error(`tokenizer.json has no '${EOT}' token`);
    const index = new Map(entries);
    const merges = j.model.merges.map((m, i): [number, number] => {
      const [a, b] = Array.isArray(m) ? (m as string[]) : String(m).split(' ');
      const ia = index.get(a);
      const ib = index.get(b);
      if (ia === undefined || ib === undefined) throw new Error(`merge ${i} ('${a} ${b}') uses a token missing from the vocabulary`);
      return [ia, ib];
    });
    return new BpeTokenizer(tokens, merges, eos[1]);
  }

  async save(dir: string): Promise<void> {
    await writeTokenizerFiles(dir, this, this.toJSON());
  }
}

/** Longest run of bytes merged as one piece (see encodeWord); also the longest a token can cover. */
export const MAX_WORD_BYTES = 256;

export type MergeMap = Map<number, { rank: number; id: number }>;

/** BPE on one pre-token's bytes: repeatedly merge the lowest-ranked adjacent pair present. */
export function applyMerges(bytes: Uint8Array, byteIds: ArrayLike<number>, mergeMap: MergeMap): number[] {
  let ids: number[] = Array.from(bytes, (b) => byteIds[b]);
  while (ids.length > 1) {
    let best: { rank: number; id: number } | undefined;
    let bestA = -1;
    let bestB = -1;
    for (let i = 0; i + 1 < ids.length; i++) {
      const m = mergeMap.get(pairKey(ids[i], ids[i + 1]));
      if (m && (!best || m.rank < best.rank)) {
        best = m;
        bestA = ids[i];
        bestB = ids[i + 1];
      }
    }
    if (!best) break;
    ids = mergePair(ids, bestA, bestB, best.id);
  }
  return ids;
}

export { pairKey };

/** Replace every non-overlapping occurrence of (a, b), left to right, by `id`. */
function mergePair(ids: number[], a: number, b: number, id: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    if (i + 1 < ids.length && ids[i] === a && ids[i + 1] === b) {
      out.push(id);
      i++;
    } else out.push(ids[i]);
  }
  return out;
}

/**
 * BPE training with incremental pair counts: words are counted once, each pair keeps its total count and
 * the set of words it occurs in, and a lazy max-heap yields the most frequent pair. After a merge only the
 * words containing that pair are re-counted.
 */
function trainMerges(texts: Iterable<string>, opts: BpeTrainOptions): { tokens: string[]; merges: [number, number][] } {
  if (!Number.isInteger(opts.vocabSize) || opts.vocabSize < BPE_MIN_VOCAB) throw new RangeError(`vocab_size must be an integer ≥ ${BPE_MIN_VOCAB} (256 bytes + end-of-text), got ${opts.vocabSize}`);
  const minFrequency = opts.minFrequency ?? 2;
  const wordCounts = new Map<string, number>();
  for (const text of texts) {
    for (const w of preTokenize(text)) wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);
  }
  // Sorted so the word order (and so the sets' iteration order) does not depend on the input order.
  const uniq = [...wordCounts.keys()].sort();
  const words: number[][] = uniq.map((w) => Array.from(utf8.encode(w)));
  const counts = uniq.map((w) => wordCounts.get(w)!);

  const tokens: string[] = BYTE_TO_CHAR.slice();
  const index = new Map(tokens.map((t, i) => [t, i]));
  const merges: [number, number][] = [];
  const pairCounts = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();

  const addWord = (wi: number, sign: 1 | -1, touched?: Set<number>): void => {
    const w = words[wi];
    const c = counts[wi] * sign;
    for (let i = 0; i + 1 < w.length; i++) {
      const k = pairKey(w[i], w[i + 1]);
      pairCounts.set(k, (pairCounts.get(k) ?? 0) + c);
      touched?.add(k);
      if (sign > 0) {
        let s = pairWords.get(k);
        if (!s) pairWords.set(k, (s = new Set()));
        s.add(wi);
      }
    }
  };
  for (let wi = 0; wi < words.length; wi++) addWord(wi, 1);
  const heap = new PairHeap();
  for (const [k, c] of pairCounts) heap.push(c, k);

  const target = opts.vocabSize - 1; // the last id is <|endoftext|>
  while (tokens.length < target) {
    const top = heap.pop();
    if (!top) break;
    if (pairCounts.get(top.key) !== top.count) continue; // stale entry
    if (top.count < minFrequency) break;
    const a = Math.floor(top.key / KEY);
    const b = top.key % KEY;
    const str = tokens[a] + tokens[b];
    let id = index.get(str);
    if (id === undefined) {
      id = tokens.length;
      tokens.push(str);
      index.set(str, id);
    }
    merges.push([a, b]);
    const touched = new Set<number>();
    for (const wi of pairWords.get(top.key) ?? []) {
      const w = words[wi];
      let has = false;
      for (let i = 0; i + 1 < w.length; i++) if (w[i] === a && w[i + 1] === b) { has = true; break; }
      if (!has) continue;
      addWord(wi, -1, touched);
      words[wi] = mergePair(w, a, b, id);
      addWord(wi, 1, touched);
    }
    pairWords.delete(top.key);
    for (const k of touched) {
      const c = pairCounts.get(k)!;
      if (c <= 0) {
        pairCounts.delete(k);
        pairWords.delete(k);
      } else heap.push(c, k);
    }
  }
  return { tokens, merges };
}

