// Load phase: read the main spec and, transitively, the files it imports; parse each once.
// Import paths are relative to the importing file. Cycles (RLHF2002) and missing files (RLHF2001)
// are reported at the import's span.

import { readdirSync, statSync, type Stats } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import type { ImportDecl, SourceFile } from '../grammar/ast.ts';
import { diag, UserError, type Diagnostic } from '../core/diagnostics.ts';
import { LIMITS, readTextSync } from '../runtime/validate/files.ts';
import { parse } from '../grammar/parse.ts';

export interface Loaded {
  /** Files in dependency order (imports before importers), each once; the main file is last. */
  files: SourceFile[];
  /** Source text by display path, for rendering diagnostics. */
  sources: Map<string, string>;
  diagnostics: Diagnostic[];
}

/** Display path of a file: relative to the current directory, forward slashes. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path) || path;
  return rel.split('\\').join('/');
}

/**
 * `read` lets a caller supply a file's text instead of the disk (the language server's unsaved
 * editor buffers); it returns undefined for files it does not hold.
 */
export function loadProgram(mainPath: string, read?: (path: string) => string | undefined): Loaded {
  const files: SourceFile[] = [];
  const sources = new Map<string, string>();
  const diagnostics: Diagnostic[] = [];
  const done = new Set<string>();
  const stack: string[] = [];

  const visit = (path: string, via?: ImportDecl): void => {
    const key = normalize(path);
    if (stack.includes(key)) {
      const chain = [...stack.slice(stack.indexOf(key)), key].map(displayPath).join(' → ');
      diagnostics.push(diag('RLHF2002', `import cycle: ${chain}`, via?.span));
      return;
    }
    if (done.has(key)) return;
    const shown = displayPath(key);
    const held = read?.(key);
    const st = held === undefined ? statOf(key) : undefined;
    if (held === undefined && (!st || !st.isFile())) {
      const what = !st ? 'no such file' : st.isDirectory() ? 'it is a folder, not a spec file' : 'it is not a regular file';
      const inside = st?.isDirectory() ? specFilesIn(key).map(displayPath) : [];
      const extra = inside.length ? { notes: [`did you mean ${inside.slice(0, 3).map((f) => `'${f}'`).join(' or ')}?`] } : {};
      if (via) diagnostics.push(diag('RLHF2001', `imported file '${via.path.value}' not found (looked for ${shown}${st ? `: ${what}` : ''})`, via.path.span, extra));
      else diagnostics.push(diag('RLHF9001', `cannot read '${shown}': ${what}`, undefined, extra));
      return;
    }
    let text: string;
    try {
      // A regular UTF-8 text file within the size cap; a binary spec is one clear error, not a flood.
      text = held ?? readTextSync(key, { what: 'spec', maxBytes: LIMITS.spec });
    } catch (e) {
      const d = e instanceof UserError ? e.diagnostics[0] : undefined;
      diagnostics.push(diag('RLHF9001', d ? d.message.replace(key, shown) : `cannot read '${shown}': ${(e as Error).message}`, via?.span, d?.notes ? { notes: d.notes } : {}));
      return;
    }
    sources.set(shown, text);
    const { ast, diagnostics: ds } = parse(text, shown);
    diagnostics.push(...ds);
    stack.push(key);
    for (const imp of ast.imports) visit(join(dirname(key), imp.path.value), imp);
    stack.pop();
    done.add(key);
    files.push(ast);
  };

  visit(mainPath);
  return { files, sources, diagnostics };
}

function statOf(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/**
 * The spec files in a folder and its subfolders: regular files named `*.rlhf`, sorted. Folders whose
 * name starts with a dot (artifact stores such as `.rlhfc/` or an old `.rlhf/`), `node_modules` and,
 * unless `libraries` is set, `lib/` folders (imported files, not specs of their own) are not searched.
 */
export function specFilesIn(dir: string, o: { libraries?: boolean } = {}): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  return names.flatMap((f) => {
    const p = join(dir, f);
    const st = statOf(p);
    if (!st) return [];
    if (st.isDirectory()) return f.startsWith('.') || f === 'node_modules' || (f === 'lib' && !o.libraries) ? [] : specFilesIn(p, o);
    return st.isFile() && f.endsWith('.rlhf') ? [p] : [];
  });
}
