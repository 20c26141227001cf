// Writing and reading the two tokenizer files: `tokenizer.json` (Hugging Face format) and
// `rlhfc_tokenizer.json` (which kind of tokenizer, so loading needs no guessing).

import { lstat, mkdir, readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { readJson, readJsonSync } from '../validate/files.ts';
import { TokenizerConfigSchema } from '../validate/schemas.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../safetensors.ts';
import { EOT, type Tokenizer, type TokenizerManifest } from './types.ts';

export const TOKENIZER_FILE = 'tokenizer.json';
export const MANIFEST_FILE = 'rlhfc_tokenizer.json';
/** What `transformers.AutoTokenizer` reads beside `tokenizer.json`: the class and the special tokens. */
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';
/** Where transformers 5 saves a single chat template (read before tokenizer_config.json's chat_template). */
export const CHAT_TEMPLATE_FILE = 'chat_template.jinja';

export function manifestOf(t: Tokenizer): TokenizerManifest {
  return { format: 'rlhfc-tokenizer', version: 1, kind: t.kind, vocab_size: t.vocabSize, eos_id: t.eosId, pad_id: t.padId };
}

/**
 * `tokenizer_config.json` for `AutoTokenizer`: a fast tokenizer over `tokenizer.json` with
 * `<|endoftext|>` as eos, bos and pad (rlhfc's ids: no token added on encode), padding on the right
 * (rlhfc's batches, and GPT-2 positions count from the first token), decoding without the
 * "clean up spaces" rewrite (so decode gives rlhfc's text back).
 */
export function tokenizerConfig(t: Tokenizer, unk?: string): Record<string, unknown> {
  return {
    tokenizer_class: 'PreTrainedTokenizerFast',
    bos_token: EOT,
    eos_token: EOT,
    pad_token: EOT,
    ...(unk ? { unk_token: unk } : {}),
    add_bos_token: false,
    add_eos_token: false,
    padding_side: 'right',
    clean_up_tokenization_spaces: false,
    model_max_length: 1_000_000_000,
    rlhfc: { kind: t.kind },
  };
}

/** Write `rlhfc_tokenizer.json` and, when given, `tokenizer.json` + `tokenizer_config.json`, each atomically. */
export async function writeTokenizerFiles(dir: string, t: Tokenizer, hfJson: object | undefined, unk?: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  if (hfJson) {
    await writeFileAtomic(join(dir, TOKENIZER_FILE), JSON.stringify(hfJson));
    await writeFileAtomic(join(dir, TOKENIZER_CONFIG_FILE), JSON.stringify(tokenizerConfig(t, unk), null, 2) + '\n');
  }
  await writeFileAtomic(join(dir, MANIFEST_FILE), JSON.stringify(manifestOf(t), null, 2) + '\n');
}

/**
 * Save a Hugging Face tokenizer back: its `tokenizer.json` and `tokenizer_config.json` exactly as they
 * were read (chat template included), so `AutoTokenizer` opens the folder as it opened the original;
 * a minimal `tokenizer_config.json` naming the special tokens when the original had none.
 */
/** What saving a Hugging Face tokenizer back needs of it (hf.ts's HfTokenizer; named here so files.ts does not import hf.ts, which imports it). */
export interface SavedHfTokenizer extends Tokenizer {
  readonly special: { bos?: string; eos?: string; pad?: string; unk?: string };
  files(): { tokenizerJson: string; tokenizerConfig: string | undefined; chatTemplate: string | undefined };
}

export async function writeHfTokenizerFiles(dir: string, t: SavedHfTokenizer): Promise<void> {
  await mkdir(dir, { recursive: true });
  const { tokenizerJson, tokenizerConfig: cfg, chatTemplate } = t.files();
  if (chatTemplate !== undefined) await writeFileAtomic(join(dir, CHAT_TEMPLATE_FILE), chatTemplate);
  await writeFileAtomic(join(dir, TOKENIZER_FILE), tokenizerJson);
  const made = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    ...(t.special.bos !== undefined ? { bos_token: t.special.bos } : {}),
    eos_token: t.special.eos,
    ...(t.special.pad !== undefined ? { pad_token: t.special.pad } : {}),
    ...(t.special.unk !== undefined ? { unk_token: t.special.unk } : {}),
    clean_up_tokenization_spaces: false,
  };
  await writeFileAtomic(join(dir, TOKENIZER_CONFIG_FILE), cfg ?? JSON.stringify(made, null, 2) + '\n');
  await writeFileAtomic(join(dir, MANIFEST_FILE), JSON.stringify(manifestOf(t), null, 2) + '\n');
}

/** Whether a model or tokenizer folder has a chat template (chat_template.jinja, or chat_template in tokenizer_config.json); for compile-time rules. */
export function folderHasChatTemplate(dir: string): boolean {
  if (existsSync(join(dir, CHAT_TEMPLATE_FILE))) return true;
  try {
    const cfg = readJsonSync(join(dir, TOKENIZER_CONFIG_FILE), TokenizerConfigSchema, { what: 'tokenizer config' });
    return cfg.chat_template !== undefined;
  } catch {
    return false; // missing or unreadable: loading the folder reports it
  }
}

/** Name another pad token in a written `tokenizer_config.json` (a reward model's folder: Tokenizer.scorePad). */
export async function setPadToken(dir: string, token: string): Promise<void> {
  const path = join(dir, TOKENIZER_CONFIG_FILE);
  const cfg = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  await writeFileAtomic(path, JSON.stringify({ ...cfg, pad_token: token }, null, 2) + '\n');
}

/**
 * Read, parse and validate a JSON file; undefined when it does not exist. A folder, device, binary or
 * damaged file, or one that does not match `schema`, is a UserError naming the file.
 */
export async function readJsonIfExists<T>(path: string, schema: z.ZodType<T>, what: string): Promise<T | undefined> {
  try {
    await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  }
  return readJson(path, schema, { what, fix: 'the tokenizer files are damaged or not in a format rlhfc reads: restore them or train the tokenizer again' });
}
