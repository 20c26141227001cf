// Tokenizers: the common interface, the three kinds, and loading a saved tokenizer folder.

import { join } from 'node:path';
import { UserError, diag } from '../../core/diagnostics.ts';
import { BpeTokenizer } from './bpe.ts';
import { CharTokenizer } from './chars.ts';
import { Gpt2Tokenizer } from './gpt2.ts';
import { CHAT_TEMPLATE_FILE, MANIFEST_FILE, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE, readJsonIfExists } from './files.ts';
import { HfTokenizer } from './hf.ts';
import type { Tokenizer, TokenizerManifest } from './types.ts';
import { HfTokenizerSchema, TokenizerConfigSchema, TokenizerManifestSchema } from '../validate/schemas.ts';
import { LIMITS, parseJson, readText } from '../validate/files.ts';
import { lstat } from 'node:fs/promises';
import { existsSync } from 'node:fs';

export { BpeTokenizer, CharTokenizer, Gpt2Tokenizer, HfTokenizer };
export type { BpeTrainOptions } from './bpe.ts';
export { EOT, withBos, type EncodeOptions, type Tokenizer, type TokenizerKind, type TokenizerManifest } from './types.ts';
export { TOKENIZER_FILE, MANIFEST_FILE, TOKENIZER_CONFIG_FILE, CHAT_TEMPLATE_FILE, setPadToken, folderHasChatTemplate } from './files.ts';
export { renderChatTemplate, strftime, ChatTemplateError, type ChatMessage, type RenderOptions, type ChatTemplateSource } from './chat.ts';

const fail = (message: string): never => {
  throw new UserError([diag('RLHF9001', message)]);
};

const FIX = 'the tokenizer files are damaged or not in a format rlhfc reads: restore them or train the tokenizer again';

async function readTextIfExists(path: string, what: string): Promise<string | undefined> {
  try {
    await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  }
  return readText(path, { what, maxBytes: LIMITS.json, fix: FIX });
}

/**
 * rlhfc's own byte-level flavour (and GPT-2's file): ByteLevel pre-tokenizer, no normalizer, an
 * `<|endoftext|>` token, no chat template. Such a folder without a manifest loads as kind `bpe`, as
 * it always has; every other BPE `tokenizer.json` loads as a Hugging Face tokenizer (kind `hf`).
 */
function isPlainByteLevel(dir: string, hf: Record<string, unknown>, cfg: Record<string, unknown> | undefined): boolean {
  const pre = hf.pre_tokenizer as { type?: unknown } | null | undefined;
  const model = hf.model as { vocab: Record<string, number> };
  const post = hf.post_processor as { type?: unknown } | null | undefined;
  return (hf.normalizer === null || hf.normalizer === undefined) && pre?.type === 'ByteLevel' && (post === null || post === undefined || post.type === 'ByteLevel') && Object.hasOwn(model.vocab, '<|endoftext|>') && cfg?.chat_template === undefined && !existsSync(join(dir, CHAT_TEMPLATE_FILE));
}

/**
 * Load the tokenizer saved in `dir`. Uses `rlhfc_tokenizer.json` for the kind when present; otherwise a
 * Hugging Face `tokenizer.json` (+ `tokenizer_config.json`): WordLevel → characters, rlhfc's plain
 * byte-level BPE (and GPT-2's) → kind `bpe`, any other BPE → kind `hf` (Llama, Qwen, Mistral, SmolLM).
 */
export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  const manifestPath = join(dir, MANIFEST_FILE);
  const hfPath = join(dir, TOKENIZER_FILE);
  const cfgPath = join(dir, TOKENIZER_CONFIG_FILE);
  const manifest: TokenizerManifest | undefined = await readJsonIfExists(manifestPath, TokenizerManifestSchema, 'tokenizer manifest');
  if (manifest?.kind === 'gpt2') return new Gpt2Tokenizer();
  const hfText = await readTextIfExists(hfPath, 'tokenizer');
  if (hfText === undefined) return fail(`no tokenizer in ${dir}: neither ${TOKENIZER_FILE} nor a gpt2 ${MANIFEST_FILE} found`);
  const hf = parseJson(hfText, hfPath, HfTokenizerSchema, { what: 'tokenizer', maxBytes: LIMITS.json, fix: FIX }) as Record<string, unknown>;
  const type = (hf as { model?: { type?: unknown } }).model?.type;
  let tok: Tokenizer;
  try {
    if (manifest?.kind === 'char' || (!manifest && type === 'WordLevel')) tok = CharTokenizer.fromJSON(hf);
    else if (manifest?.kind === 'bpe' || manifest?.kind === 'hf' || (!manifest && type === 'BPE')) {
      const cfgText = await readTextIfExists(cfgPath, 'tokenizer config');
      const config = cfgText === undefined ? undefined : (parseJson(cfgText, cfgPath, TokenizerConfigSchema, { what: 'tokenizer config', maxBytes: LIMITS.json, fix: FIX }) as Record<string, unknown>);
      if (manifest?.kind === 'bpe' || (!manifest && isPlainByteLevel(dir, hf, config))) tok = BpeTokenizer.fromJSON(hf);
      else {
        const chatTemplateText = await readTextIfExists(join(dir, CHAT_TEMPLATE_FILE), 'chat template');
        tok = new HfTokenizer(hf, { jsonText: hfText, config, configText: cfgText, chatTemplateText });
      }
    } else return fail(`${hfPath}: unsupported tokenizer (model type ${JSON.stringify(type)}, kind ${JSON.stringify(manifest?.kind)}): rlhfc reads BPE tokenizers (Llama, Qwen, Mistral, SmolLM, GPT-2) and its own character tokenizer`);
  } catch (e) {
    if (e instanceof UserError) throw e;
    return fail(`${hfPath}: ${(e as Error).message}`);
  }
  if (manifest && manifest.vocab_size !== tok.vocabSize) {
    fail(`${dir}: ${MANIFEST_FILE} says vocab_size ${manifest.vocab_size} but ${TOKENIZER_FILE} has ${tok.vocabSize} tokens`);
  }
  return tok;
}
