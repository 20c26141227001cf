// Local files a declaration reads — data files, model folders, TypeScript hooks — checked at compile
// time (RLHF3014 not found, RLHF3011 no usable config.json, RLHF3013 a hook with the wrong shape,
// checked by ../hooks.ts) rather than discovered mid-run; their content hash joins the cache key.

import { folderHasChatTemplate } from '../../runtime/tokenizers/files.ts';
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve as resolvePath } from 'node:path';
import type * as A from '../../grammar/ast.ts';
import { diag, UserError, type Related } from '../../core/diagnostics.ts';
import { LIMITS, readBytesSync, readJsonSync } from '../../runtime/validate/files.ts';
import { LLAMA_DEFAULT_CONTEXT, ModelFactsSchema } from '../../runtime/validate/schemas.ts';
import type { ModelFacts, ResolvedParams } from '../../core/schema.ts';
import { checkUserFunction } from '../hooks.ts';
import type { CheckContext } from './context.ts';

/**
 * sha256 of a file, or of the files of a model folder that define the model. Reads are bounded and
 * take regular files only (a folder, FIFO or device where a file must be is a UserError).
 */
export function fileHash(path: string, mustBeFile = false): string {
  const h = createHash('sha256');
  const st = statSync(path);
  if (st.isDirectory() && !mustBeFile) {
    const files = ['config.json', 'model.safetensors', 'model.safetensors.index.json', 'adapter_config.json', 'adapter_model.safetensors', 'tokenizer.json'];
    // a sharded checkpoint: the shards its index names (plain file names in the folder), in order
    const index = join(path, 'model.safetensors.index.json');
    if (existsSync(index) && !existsSync(join(path, 'model.safetensors'))) files.push(...shardNames(readBytesSync(index, { what: 'model.safetensors.index.json', maxBytes: LIMITS.data })));
    for (const f of files) {
      const p = join(path, f);
      if (existsSync(p)) h.update(f).update(readBytesSync(p, { what: f, maxBytes: LIMITS.weights }));
    }
  } else h.update(readBytesSync(path, { what: 'file', maxBytes: LIMITS.data }));
  return h.digest('hex');
}

/** The shard files a model.safetensors.index.json names (sorted, plain .safetensors names only; anything else the runtime refuses when loading). */
function shardNames(bytes: Uint8Array): string[] {
  try {
    const map = (JSON.parse(new TextDecoder().decode(bytes)) as { weight_map?: Record<string, unknown> }).weight_map ?? {};
    return [...new Set(Object.values(map))].filter((f): f is string => typeof f === 'string' && /^[^/\\.][^/\\]*\.safetensors$/.test(f)).sort();
  } catch {
    return [];
  }
}

/** A path written in `file` (relative to it) → absolute, and relative to the main spec's folder. */
export function localPath(ctx: CheckContext, written: string, file: string): { abs: string; rel: string } {
  const abs = resolvePath(dirname(resolvePath(file)), written);
  return { abs, rel: relative(ctx.mainDir, abs).split('\\').join('/') || '.' };
}

/**
 * The `path` (data file) or `ref` (`file.ts#export`, a user judge) argument of a constructor: the file
 * must exist (and a hook have the judge's signature); the param is rewritten relative to the main
 * spec. Returns the content hash, or undefined when there is no such argument; false on an error.
 */
export function checkLocalFile(
  ctx: CheckContext,
  params: ResolvedParams,
  argName: 'path' | 'ref',
  category: string,
  file: string,
  argSpan: A.Span,
  related: Related[],
): string | false | undefined {
  if (typeof params[argName] !== 'string') return undefined;
  const written = params[argName] as string;
  const [filePart, exportName] = argName === 'ref' ? written.split('#') : [written, undefined];
  const { abs, rel } = localPath(ctx, filePart, file);
  if (!existsSync(abs)) {
    ctx.ds.push(diag('RLHF3014', `${category === 'judge' ? 'user function file' : 'file'} '${filePart}' not found (looked for ${rel})`, argSpan, { related }));
    return false;
  }
  params[argName] = exportName !== undefined ? `${rel}#${exportName}` : rel;
  let hash: string;
  try {
    // Data files and hooks must be regular files (a folder, FIFO or device is refused before reading).
    hash = fileHash(abs, category !== 'model');
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    const m = e.diagnostics[0].message;
    ctx.ds.push(diag('RLHF3014', `${category === 'judge' ? 'user function file' : 'file'} '${filePart}': ${m.slice(m.indexOf(': ') + 2)}`, argSpan, { related }));
    return false;
  }
  if (argName === 'ref') {
    const problem = exportName ? checkUserFunction(abs, exportName) : 'write the function as "file.ts#exportName"';
    if (problem) {
      ctx.ds.push(diag('RLHF3013', `${written}: ${problem}`, argSpan, { related, notes: ['expected: (prompt: string, response: string, record?: { prompt: string; [field: string]: unknown }) => number | Promise<number>'] }));
      return false;
    }
  }
  return hash;
}

/** Architecture facts of a saved model folder, from its config.json. */
export function readModelFacts(ctx: CheckContext, dir: string, span: A.Span): ModelFacts | undefined {
  const cfgPath = join(dir, 'config.json');
  if (!existsSync(cfgPath)) {
    ctx.ds.push(diag('RLHF3011', `no config.json in model folder ${relative(ctx.mainDir, dir) || '.'}`, span));
    return undefined;
  }
  try {
    const c = readJsonSync(cfgPath, ModelFactsSchema, { what: 'model config' });
    if (c.model_type !== undefined && c.model_type !== 'gpt2') {
      // the Llama family (llama, qwen2, qwen3, mistral): transformers' field names
      return { tokenized: true, ...(folderHasChatTemplate(dir) ? { chatTemplate: true } : {}), family: c.model_type, context: (c.max_position_embeddings ?? LLAMA_DEFAULT_CONTEXT[c.model_type as keyof typeof LLAMA_DEFAULT_CONTEXT]) as number, layers: c.num_hidden_layers as number, heads: c.num_attention_heads as number, width: c.hidden_size as number, vocab_size: c.vocab_size };
    }
    return { tokenized: true, ...(folderHasChatTemplate(dir) ? { chatTemplate: true } : {}), family: 'gpt2', context: c.n_positions as number, layers: c.n_layer as number, heads: c.n_head as number, width: c.n_embd as number, vocab_size: c.vocab_size };
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    const d = e.diagnostics[0];
    ctx.ds.push(diag('RLHF3011', `config.json in ${relative(ctx.mainDir, dir) || '.'}: ${d.message.slice(d.message.indexOf(': ') + 2)}`, span, d.notes ? { notes: d.notes } : {}));
    return undefined;
  }
}
