// Character tokenizer: one id per character (Unicode code point) seen in the training text, plus
// `<unk>` for unseen characters and `<|endoftext|>`.

import { EOT, type EncodeOptions, type Tokenizer } from './types.ts';
import { writeTokenizerFiles } from './files.ts';

export const UNK = '<unk>';

export class CharTokenizer implements Tokenizer {
  readonly kind = 'char' as const;
  /** Characters by id; then `<unk>` (id chars.length) and `<|endoftext|>` (id chars.length + 1). */
  readonly chars: readonly string[];
  readonly unkId: number;
  readonly eosId: number;
  readonly padId: number;
  private readonly index: Map<string, number>;

  constructor(chars: readonly string[]) {
    this.chars = chars;
    this.index = new Map(chars.map((c, i) => [c, i]));
    if (this.index.size !== chars.length) throw new Error('character vocabulary has duplicates');
    this.unkId = chars.length;
    this.eosId = chars.length + 1;
    this.padId = this.eosId;
  }

  get vocabSize(): number {
    return this.chars.length + 2;
  }

  get scorePad(): { token: string; id: number } {
    return { token: UNK, id: this.unkId };
  }

  /** Vocabulary = the distinct code points of `texts`, sorted by code point (deterministic). */
  static train(texts: Iterable<string>): CharTokenizer {
    const seen = new Set<string>();
    for (const t of texts) for (const ch of t) seen.add(ch);
    return new CharTokenizer([...seen].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!));
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    const parts = opts.allowSpecial ? text.split(EOT) : [text];
    parts.forEach((part, i) => {
      if (i > 0) out.push(this.eosId);
      for (const ch of part) out.push(this.index.get(ch) ?? this.unkId);
    });
    return out;
  }

  decode(ids: readonly number[]): string {
    let s = '';
    for (const id of ids) {
      if (id >= 0 && id < this.chars.length) s += this.chars[id];
      else if (id === this.unkId) s += '\uFFFD';
      else if (id === this.eosId) s += EOT;
      else throw new RangeError(`token id ${id} is outside the vocabulary (size ${this.vocabSize})`);
    }
    return s;
  }

  /** Hugging Face `tokenizer.json`: a WordLevel model over single characters (Split pre-tokenizer). */
  toJSON(): object {
    const vocab: Record<string, number> = {};
    this.chars.forEach((c, i) => (vocab[c] = i));
    vocab[UNK] = this.unkId;
    return {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: [
        { id: this.unkId, content: UNK, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
        { id: this.eosId, content: EOT, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      ],
      normalizer: null,
      pre_tokenizer: { type: 'Split', pattern: { Regex: '[\\s\\S]' }, behavior: 'Isolated', invert: false },
      post_processor: null,
      decoder: { type: 'Fuse' },
      model: { type: 'WordLevel', vocab, unk_token: UNK },
    };
  }

  static fromJSON(json: unknown): CharTokenizer {
    const j = json as { model?: { type?: string; vocab?: Record<string, number> } };
    if (j?.model?.type !== 'WordLevel' || typeof j.model.vocab !== 'object') throw new Error('not a character tokenizer.json (expected model.type "WordLevel")');
    const entries = Object.entries(j.model.vocab).filter(([t]) => t !== UNK);
    const chars: string[] = new Array(entries.length);
    for (const [c, id] of entries) {
      if (!Number.isInteger(id) || id < 0 || id >= entries.length || chars[id] !== undefined) throw new Error(`invalid id ${id} for character ${JSON.stringify(c)}`);
      chars[id] = c;
    }
    return new CharTokenizer(chars);
  }

  async save(dir: string): Promise<void> {
    await writeTokenizerFiles(dir, this, this.toJSON(), UNK);
  }
}
