// Writing and reading the two tokenizer files: `tokenizer.json` (Hugging Face format) and
// `rlhfc_tokenizer.json` (which kind of tokenizer, so loading needs no guessing).

import { mkdir, readFile } from 'node:fs/promises';
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

/** Read and parse a JSON file; undefined when it does not exist. Throws with the path on invalid JSON. */
export async function readJsonIfExists(path: string): Promise<unknown | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: invalid JSON (${(e as Error).message})`);
  }
}
