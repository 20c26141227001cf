// The tokenizer interface every stage uses, whatever the kind (GPT-2 BPE, trained byte-level BPE, characters,
// Hugging Face tokenizer.json).

import type { ChatMessage, RenderOptions } from './chat.ts';

/** gpt2, rlhfc's trained byte-level `bpe`, `char`, or `hf`: a Hugging Face tokenizer.json (Llama, Qwen, Mistral, SmolLM). */
export type TokenizerKind = 'gpt2' | 'bpe' | 'char' | 'hf';

/** GPT-2's vocabulary (r50k_base): 50,256 merges and bytes, plus <|endoftext|>. */
export const GPT2_VOCAB_SIZE = 50257;

/** The smallest byte-level BPE vocabulary: the 256 byte tokens and end-of-text, no merges. */
export const BPE_MIN_VOCAB = 257;

/** The special end-of-text token shared by all kinds (GPT-2's `<|endoftext|>`). */
export const EOT = '<|endoftext|>';

export interface EncodeOptions {
  /**
   * When true, the literal text of a special token (`<|endoftext|>`; for Hugging Face tokenizers every
   * special added token: `<s>`, `<|im_start|>`, `[INST]`…) becomes that token. Default false: it is
   * encoded as ordinary text, so user data can never inject a document or turn boundary. Rendered chat
   * templates are encoded with true.
   */
  allowSpecial?: boolean;
}

/** A tokenizer. `encode` never adds eos itself: the data pipeline appends `eosId` where it wants one. */
export interface Tokenizer {
  readonly kind: TokenizerKind;
  readonly vocabSize: number;
  readonly eosId: number;
  /** Padding id (the eos id for every kind here, as for GPT-2); pad positions are masked by the trainer. */
  readonly padId: number;
  /**
   * The beginning-of-sequence id the model expects before every text (Llama's `<s>`, Llama 3's
   * `<|begin_of_text|>`), undefined for models without one (GPT-2, Qwen). `encode` never adds it:
   * the data pipeline prepends it (`withBos`) where a sequence starts, as it appends `eosId`.
   */
  readonly bosId?: number;
  /**
   * Padding of a sequence-classification (reward model) folder for `transformers`, which scores the
   * last token that is not `config.pad_token_id`: a token no text encodes to, so that the
   * end-of-text rlhfc scores is never taken for padding (byte-level BPE: the byte 0xFF, which UTF-8
   * never uses; characters have no such id and use `<unk>`).
   */
  readonly scorePad: { token: string; id: number };
  encode(text: string, opts?: EncodeOptions): number[];
  /**
   * The text of `messages` rendered with the model's chat template, as transformers'
   * `apply_chat_template(messages, tokenize=False, ...)` renders it; only tokenizers that have a
   * chat template (Hugging Face folders whose tokenizer_config.json or chat_template.jinja has one).
   * Encode the result with `allowSpecial: true`: the template writes the special tokens as text.
   */
  renderChat?(messages: readonly ChatMessage[], opts?: RenderOptions): string;
  decode(ids: readonly number[]): string;
  /** Writes `tokenizer.json` (+ `rlhfc_tokenizer.json`) into `dir` (created if missing). */
  save(dir: string): Promise<void>;
}

/** Contents of `rlhfc_tokenizer.json`, written beside `tokenizer.json`. */
export interface TokenizerManifest {
  format: 'rlhfc-tokenizer';
  version: 1;
  kind: TokenizerKind;
  vocab_size: number;
  eos_id: number;
  pad_id: number;
}

/** `ids` with the tokenizer's bos id in front when the model expects one (and it is not there already). */
export function withBos(tok: Tokenizer, ids: number[]): number[] {
  return tok.bosId === undefined || ids[0] === tok.bosId ? ids : [tok.bosId, ...ids];
}
