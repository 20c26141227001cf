// Writing and reading the two tokenizer files: `tokenizer.json` (Hugging Face format) and
// `rlhfc_tokenizer.json` (which kind of tokenizer, so loading needs no guessing).

import { lstat, mkdir } from 'node:fs/promises';
import type { z } from 'zod';
import { readJson } from '../validate/files.ts';
import { join } from 'node:path';
import { writeFileAtomic } from '../safetensors.ts';
import type { Tokenizer, TokenizerManifest } from './types.ts';

export const TOKENIZER_FILE = 'tokenizer.json';
export const MANIFEST_FILE = 'rlhfc_tokenizer.json';

export function manifestOf(t: Tokenizer): TokenizerManifest {
  return { format: 'rlhfc-tokenizer', version: 1, kind: t.kind, vocab_size: t.vocabSize, eos_id: t.eosId, pad_id: t.padId };
}

/** Write `rlhfc_tokenizer.json` and, when given, `tokenizer.json`, each atomically. */
export async function writeTokenizerFiles(dir: string, t: Tokenizer, hfJson: object | undefined): Promise<void> {
  await mkdir(dir, { recursive: true });
  if (hfJson) await writeFileAtomic(join(dir, TOKENIZER_FILE), JSON.stringify(hfJson));
  await writeFileAtomic(join(dir, MANIFEST_FILE), JSON.stringify(manifestOf(t), null, 2) + '\n');
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
