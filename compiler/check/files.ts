// Local files a declaration reads — data files, model folders, TypeScript hooks — checked at compile
// time (RLHF3014 not found, RLHF3011 no usable config.json, RLHF3013 a hook with the wrong shape,
// checked by ../hooks.ts) rather than discovered mid-run; their content hash joins the cache key.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve as resolvePath } from 'node:path';
import type * as A from '../../grammar/ast.ts';
import { diag, type Related } from '../../core/diagnostics.ts';
import type { ModelFacts, ResolvedParams } from '../../core/schema.ts';
import { checkUserFunction } from '../hooks.ts';
import type { CheckContext } from './context.ts';

/** sha256 of a file, or of the files of a model folder that define the model. */
export function fileHash(path: string): string {
  const h = createHash('sha256');
  const st = statSync(path);
  if (st.isDirectory()) {
    for (const f of ['config.json', 'model.safetensors', 'adapter_config.json', 'adapter_model.safetensors', 'tokenizer.json']) {
      const p = join(path, f);
      if (existsSync(p)) h.update(f).update(readFileSync(p));
    }
  } else h.update(readFileSync(path));
  return h.digest('hex');
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
  const hash = fileHash(abs);
  if (argName === 'ref') {
    const problem = exportName ? checkUserFunction(abs, exportName) : 'write the function as "file.ts#exportName"';
    if (problem) {
      ctx.ds.push(diag('RLHF3013', `${written}: ${problem}`, argSpan, { related, notes: ['expected: (prompt: string, response: string) => number | Promise<number>'] }));
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
    const c = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, number>;
    return { tokenized: true, context: c['n_positions'], layers: c['n_layer'], heads: c['n_head'], width: c['n_embd'], vocab_size: c['vocab_size'] };
  } catch (e) {
    ctx.ds.push(diag('RLHF3011', `config.json in ${relative(ctx.mainDir, dir) || '.'} is not valid JSON: ${(e as Error).message}`, span));
    return undefined;
  }
}
