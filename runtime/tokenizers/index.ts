// Tokenizers: the common interface, the three kinds, and loading a saved tokenizer folder.

import { join } from 'node:path';
import { UserError, diag } from '../../core/diagnostics.ts';
import { BpeTokenizer } from './bpe.ts';
import { CharTokenizer } from './chars.ts';
import { Gpt2Tokenizer } from './gpt2.ts';
import { MANIFEST_FILE, TOKENIZER_FILE, readJsonIfExists } from './files.ts';
import type { Tokenizer, TokenizerManifest } from './types.ts';
import { HfTokenizerSchema, TokenizerManifestSchema } from '../validate/schemas.ts';

export { BpeTokenizer, CharTokenizer, Gpt2Tokenizer };
export type { BpeTrainOptions } from './bpe.ts';
export { EOT, type EncodeOptions, type Tokenizer, type TokenizerKind, type TokenizerManifest } from './types.ts';
export { TOKENIZER_FILE, MANIFEST_FILE, TOKENIZER_CONFIG_FILE, setPadToken } from './files.ts';

const fail = (message: string): never => {
  throw new UserError([diag('RLHF9001', message)]);
};

/**
 * Load the tokenizer saved in `dir`. Uses `rlhfc_tokenizer.json` for the kind when present; otherwise a
 * Hugging Face `tokenizer.json` (BPE → byte-level BPE, WordLevel → characters). A GPT-2 `tokenizer.json`
 * loads as a general byte-level BPE with GPT-2's vocabulary and merges.
 */
export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  const manifestPath = join(dir, MANIFEST_FILE);
  const hfPath = join(dir, TOKENIZER_FILE);
  let manifest: TokenizerManifest | undefined;
  let hf: unknown;
  manifest = await readJsonIfExists(manifestPath, TokenizerManifestSchema, 'tokenizer manifest');
  if (manifest?.kind !== 'gpt2') hf = await readJsonIfExists(hfPath, HfTokenizerSchema, 'tokenizer');
  if (manifest?.kind === 'gpt2') return new Gpt2Tokenizer();
  if (hf === undefined) return fail(`no tokenizer in ${dir}: neither ${TOKENIZER_FILE} nor a gpt2 ${MANIFEST_FILE} found`);
  const type = (hf as { model?: { type?: unknown } }).model?.type;
  let tok: Tokenizer;
  try {
    if (manifest?.kind === 'char' || (!manifest && type === 'WordLevel')) tok = CharTokenizer.fromJSON(hf);
    else if (manifest?.kind === 'bpe' || (!manifest && type === 'BPE')) tok = BpeTokenizer.fromJSON(hf);
    else return fail(`${hfPath}: unsupported tokenizer (model type ${JSON.stringify(type)}, kind ${JSON.stringify(manifest?.kind)})`);
  } catch (e) {
    return fail(`${hfPath}: ${(e as Error).message}`);
  }
  if (manifest && manifest.vocab_size !== tok.vocabSize) {
    fail(`${dir}: ${MANIFEST_FILE} says vocab_size ${manifest.vocab_size} but ${TOKENIZER_FILE} has ${tok.vocabSize} tokens`);
  }
  return tok;
}
