// The exact GPT-2 tokenizer (r50k_base, 50257 ids) via `gpt-tokenizer`.

import { encode as r50kEncode, decode as r50kDecode } from 'gpt-tokenizer/encoding/r50k_base';
import r50kRanks from 'gpt-tokenizer/bpeRanks/r50k_base';
import { BYTE_TO_CHAR, bytesToToken, utf8 } from './bytes.ts';
import { applyMerges, BpeTokenizer, pairKey, type MergeMap } from './bpe.ts';
import { EOT, GPT2_VOCAB_SIZE, type EncodeOptions, type Tokenizer } from './types.ts';
import { writeTokenizerFiles } from './files.ts';

const NO_SPECIAL = { disallowedSpecial: new Set<string>() };

/** GPT-2's byte-level BPE. `<|endoftext|>` (50256) only when `allowSpecial` is set. */
export class Gpt2Tokenizer implements Tokenizer {
  readonly kind = 'gpt2' as const;
  readonly vocabSize = GPT2_VOCAB_SIZE;
  readonly eosId = GPT2_VOCAB_SIZE - 1;
  readonly padId = GPT2_VOCAB_SIZE - 1;

  get scorePad(): { token: string; id: number } {
    const id = (r50kRanks as (string | number[])[]).findIndex((r) => Array.isArray(r) && r.length === 1 && r[0] === 0xff);
    return { token: BYTE_TO_CHAR[0xff], id };
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (!opts.allowSpecial) return r50kEncode(text, NO_SPECIAL);
    const out: number[] = [];
    text.split(EOT).forEach((part, i) => {
      if (i > 0) out.push(this.eosId);
      if (part) for (const id of r50kEncode(part, NO_SPECIAL)) out.push(id);
    });
    return out;
  }

  decode(ids: readonly number[]): string {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new RangeError(`token id ${id} is outside the GPT-2 vocabulary (size ${this.vocabSize})`);
    }
    return r50kDecode(ids);
  }

  /** Writes GPT-2's Hugging Face `tokenizer.json` (vocab + merges) and `rlhfc_tokenizer.json` (kind gpt2). */
  async save(dir: string): Promise<void> {
    await writeTokenizerFiles(dir, this, gpt2TokenizerJson());
  }
}

let cachedJson: object | undefined;

/**
 * GPT-2's `tokenizer.json`, rebuilt from the tiktoken-style ranks shipped in `gpt-tokenizer` (rank = id).
 * Merges are recovered the usual way: token t (≥ 256) is the merge of the two pieces that BPE with merges
 * of lower rank leaves when run on t's bytes.
 */
export function gpt2TokenizerJson(): object {
  if (cachedJson) return cachedJson;
  const ranks = r50kRanks as (string | number[])[];
  const bytes = ranks.map((r) => (typeof r === 'string' ? utf8.encode(r) : Uint8Array.from(r)));
  const tokens = bytes.map((b) => bytesToToken(b));
  const byteIds = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    if (bytes[i].length !== 1) throw new Error(`unexpected r50k token ${i}: expected a single byte`);
    byteIds[bytes[i][0]] = i;
  }
  const mergeMap: MergeMap = new Map();
  const merges: [number, number][] = [];
  for (let t = 256; t < tokens.length; t++) {
    const ids = applyMerges(bytes[t], byteIds, mergeMap);
    if (ids.length !== 2) throw new Error(`cannot recover the merge that makes GPT-2 token ${t}`);
    merges.push([ids[0], ids[1]]);
    mergeMap.set(pairKey(ids[0], ids[1]), { rank: t - 256, id: t });
  }
  tokens.push(EOT);
  cachedJson = new BpeTokenizer(tokens, merges, tokens.length - 1).toJSON();
  return cachedJson;
}
