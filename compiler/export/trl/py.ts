// Writing Python source: literals and keyword-argument lists.

import type { Py } from './rows.ts';

/** A Python literal for a JSON-like value (or a raw expression). */
export function pyLit(v: Py): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`not a finite number: ${v}`);
    return String(v);
  }
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(pyLit).join(', ')}]`;
  if ('expr' in v && typeof v.expr === 'string' && Object.keys(v).length === 1) return v.expr;
  return `{${Object.entries(v as Record<string, Py>)
    .map(([k, x]) => `${JSON.stringify(k)}: ${pyLit(x)}`)
    .join(', ')}}`;
}

export const expr = (e: string): Py => ({ expr: e });

/** Keyword arguments, one per line, each followed by an optional comment. */
export interface Kwarg {
  name: string;
  value: Py;
  comment?: string;
}

/** `Name(\n    a=1,  # comment\n    ...\n)` at the given indentation. */
export function call(name: string, args: Kwarg[], indent = '    ', positional: string[] = []): string {
  if (!args.length && !positional.length) return `${name}()`;
  const inner = indent + '    ';
  const lines = [...positional.map((p) => `${inner}${p},`), ...args.map((a) => `${inner}${a.name}=${pyLit(a.value)},${a.comment ? `  # ${a.comment}` : ''}`)];
  return `${name}(\n${lines.join('\n')}\n${indent})`;
}

/** A Python identifier-safe form of a name (stage and dataset names already are identifiers). */
export function pyName(s: string): string {
  return s.replace(/[^A-Za-z0-9_]/g, '_');
}
