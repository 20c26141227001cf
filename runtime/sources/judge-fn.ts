// The `fn("./file.ts#name")` judge — users' judge functions: an exported `(prompt: string, response: string, record?) => number | Promise<number>`
// of a TypeScript (or JavaScript) file, imported at run time; `record` is the prompt's dataset record
// (its `prompt` and the source's other fields, e.g. a reference answer). The project runs under tsx, whose
// loader makes `import()` of a .ts file work. The compiler checks the signature beforehand
// (compiler/hooks.ts); every failure here is still a clear UserError naming the file, the export
// and the offending input, never a stack trace.

import { existsSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UserError, diag, didYouMean, type Code } from '../../core/diagnostics.ts';
import { path } from './dataset-params.ts';
import type { Judge, JudgeSource } from './types.ts';

type UserFn = (prompt: string, response: string, record: Readonly<Record<string, unknown>>) => unknown;

const fail = (code: Code, message: string) => new UserError([diag(code, message)]);
const quote = (s: string) => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
const describe = (v: unknown) => (typeof v === 'string' ? `the string ${quote(v)}` : typeof v === 'number' ? String(v) : `${String(v)} (${v === null ? 'null' : typeof v})`);

/**
 * Import `file` (resolved against `baseDir`) and wrap its export `exportName` as a Judge. Errors:
 * RLHF9001 the file does not exist; RLHF9002 it fails to load, or the function throws or returns
 * something other than a finite number; RLHF3013 the export is missing or not a function.
 */
export async function loadUserJudge(file: string, exportName: string, baseDir: string): Promise<Judge> {
  const path = resolve(baseDir, file);
  const shown = relative(process.cwd(), path) || path;
  const label = `judge ${exportName} (${shown})`;
  if (!existsSync(path)) throw fail('RLHF9001', `cannot read judge file ${shown}: it does not exist`);
  let mod: Record<string, unknown>;
  try {
    // tsImport compiles the file whatever module type its folder declares (a spec's folder often
    // has no package.json; a plain import() would then take the CommonJS path and fail).
    const { tsImport } = await import('tsx/esm/api');
    mod = (await tsImport(pathToFileURL(path).href, import.meta.url)) as Record<string, unknown>;
    if ('default' in mod && !Object.keys(mod).some((k) => k !== 'default' && k !== 'module.exports')) mod = { ...(mod['default'] as Record<string, unknown>) };
  } catch (e) {
    throw fail('RLHF9002', `cannot load judge file ${shown}: ${firstLine(e)}`);
  }
  if (!(exportName in mod)) {
    const names = Object.keys(mod);
    const near = didYouMean(exportName, names);
    throw fail('RLHF3013', `${shown} does not export '${exportName}'${near ? `; did you mean '${near}'?` : names.length ? ` (it exports: ${names.join(', ')})` : ''}`);
  }
  const fn = mod[exportName];
  if (typeof fn !== 'function') throw fail('RLHF3013', `'${exportName}' in ${shown} is not a function (it is ${describe(fn)})`);
  return {
    name: `fn(${file}#${exportName})`,
    async score(prompts, responses, records) {
      if (prompts.length !== responses.length) throw new Error(`${label}: ${prompts.length} prompts but ${responses.length} responses`);
      const out: number[] = [];
      for (let i = 0; i < responses.length; i++) {
        const where = `prompt ${quote(prompts[i])}, response ${quote(responses[i])}`;
        let v: unknown;
        try {
          v = await (fn as UserFn)(prompts[i], responses[i], Object.freeze({ ...(records?.[i] ?? { prompt: prompts[i] }) }));
        } catch (e) {
          throw fail('RLHF9002', `${label} threw on ${where}: ${firstLine(e)}`);
        }
        if (typeof v !== 'number' || !Number.isFinite(v)) throw fail('RLHF9002', `${label} returned ${describe(v)}, not a finite number, on ${where}`);
        out.push(v);
      }
      return out;
    },
  };
}

/** `ref` = "path/to/file.ts#exportName" (as written in `fn("...")`), relative to baseDir. */
export async function userJudge(ref: string, baseDir: string): Promise<Judge> {
  const hash = ref.lastIndexOf('#');
  if (hash <= 0 || hash === ref.length - 1) throw fail('RLHF3013', `judge reference ${quote(ref)} must be "path/to/file.ts#exportName"`);
  return loadUserJudge(ref.slice(0, hash), ref.slice(hash + 1), baseDir);
}

function firstLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0];
}

export const fn: JudgeSource = {
  name: 'fn',
  doc: 'A user TypeScript function `(prompt: string, response: string, record?) => number | Promise<number>` (record: the prompt\'s dataset record), as "./file.ts#exportName".',
  args: [{ name: 'ref', spec: path('"path/to/file.ts#exportName", relative to the spec file.') }],
  params: {},
  produces: 'judge',
  build: (a, baseDir) => userJudge(String(a['ref']), baseDir),
};
