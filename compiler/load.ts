// Load phase: read the main spec and, transitively, the files it imports; parse each once.
// Import paths are relative to the importing file. Cycles (RLHF2002) and missing files (RLHF2001)
// are reported at the import's span.

import { existsSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import type { ImportDecl, SourceFile } from './ast.ts';
import { diag, UserError, type Diagnostic } from './diagnostics.ts';
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

export function loadProgram(mainPath: string): Loaded {
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
    if (!existsSync(key) || !statSync(key).isFile()) {
      if (via) diagnostics.push(diag('RLHF2001', `imported file '${via.path.value}' not found (looked for ${shown})`, via.path.span));
      else diagnostics.push(diag('RLHF9001', `cannot read '${shown}': no such file`));
      return;
    }
    let text: string;
    try {
      // A regular UTF-8 text file within the size cap; a binary spec is one clear error, not a flood.
      text = readTextSync(key, { what: 'spec', maxBytes: LIMITS.spec });
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
