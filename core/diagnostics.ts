// Diagnostics: one catalog of codes, one Diagnostic shape, one renderer.
// Every user-facing error of the compiler (and of the runtime's data loading) goes through here,
// so the CLI never prints a stack trace for a user mistake.
//
// Code ranges:  RLHF1xxx syntax (grammar/)   RLHF2xxx resolve (imports, names, templates)
//               RLHF3xxx check (types, params, rules)   RLHF4xxx plan (graph)   RLHF5xxx target export
//               RLHF9xxx usage / environment (files that cannot be read, ...)

import type { Span } from './span.ts';

export type Severity = 'error' | 'warning';

export interface Related {
  span: Span;
  message: string;
}

export interface Diagnostic {
  code: string; // 'RLHF2001'
  severity: Severity;
  message: string;
  span?: Span; // absent only for diagnostics with no source location (e.g. file not found on the command line)
  /** Secondary locations, e.g. the template a bad instantiation points into. */
  related?: Related[];
  /** Extra lines printed after the snippet, e.g. "expected one of: ..." */
  notes?: string[];
}

/**
 * The catalog. Each entry: code → short title (what kind of mistake). Messages are built at the
 * call site; the title documents the code (README lists the catalog). Add new codes here only.
 */
export const CATALOG = {
  // --- syntax (grammar/) ---
  RLHF1001: 'unexpected character',
  RLHF1002: 'unterminated string',
  RLHF1003: 'unexpected token',
  RLHF1004: 'missing token',
  RLHF1005: 'invalid escape in string',
  RLHF1006: 'invalid number',
  RLHF1007: 'nesting too deep',

  // --- resolve ---
  RLHF2001: 'imported file not found',
  RLHF2002: 'import cycle',
  RLHF2003: 'unknown name',
  RLHF2004: 'duplicate declaration',
  RLHF2005: 'unknown stage kind or template',
  RLHF2006: 'unknown template parameter',
  RLHF2007: 'missing template argument',
  RLHF2008: 'duplicate argument or field',
  RLHF2009: 'template recursion',
  RLHF2010: 'unknown source constructor',
  RLHF2011: 'unknown output of a stage',
  RLHF2012: 'name refers to the wrong kind of declaration',
  RLHF2013: 'unknown top-level setting',

  // --- check ---
  RLHF3001: 'type mismatch',
  RLHF3002: 'value out of range',
  RLHF3003: 'unknown parameter',
  RLHF3004: 'missing required parameter',
  RLHF3005: 'artifact type mismatch',
  RLHF3006: 'invalid enum value',
  RLHF3007: 'cross-field rule violated',
  RLHF3008: 'invalid arithmetic',
  RLHF3009: 'invalid dataset source',
  RLHF3011: 'invalid model',
  RLHF3013: 'user function not found or wrong signature',
  RLHF3014: 'local file not found',

  // --- plan ---
  RLHF4001: 'dependency cycle between stages',
  RLHF4002: 'unknown stage in --stage',

  // --- target export ---
  RLHF5001: 'parameter has no equivalent in the target',
  RLHF5002: 'input the target cannot use (a user TypeScript hook that imports other local files)',
  RLHF5003: 'invalid export options (--gpus, --nodes, --strategy, --out)',
  RLHF5004: 'stage kind the target cannot export',

  // --- usage / environment ---
  RLHF9001: 'cannot read file',
  RLHF9002: 'data error',
  RLHF9003: 'invalid checkpoint (safetensors file, config or tensor shapes)',
  RLHF9004: 'model not available to the local runtime (hf("...") that is not a local folder)',
  RLHF9005: 'cannot write to the artifact store (disk full, read-only, no permission)',
} as const;

export type Code = keyof typeof CATALOG;

export function diag(code: Code, message: string, span?: Span, extra: Partial<Diagnostic> = {}): Diagnostic {
  return { code, severity: 'error', message, span, ...extra };
}

/** Thrown by runtime code for user errors (bad data, missing files); the CLI prints it without a stack. */
export class UserError extends Error {
  constructor(public readonly diagnostics: Diagnostic[]) {
    super(diagnostics.map((d) => d.message).join('\n'));
    this.name = 'UserError';
  }
}

/** Provides file contents for rendering snippets (files already read by the compiler). */
export type SourceLookup = (file: string) => string | undefined;

function fmtLoc(span: Span): string {
  return `${span.file}:${span.start.line}:${span.start.col}`;
}

/** Widest source excerpt echoed under a diagnostic (a 2 MB line is shown as a window around the caret). */
export const MAX_ECHO_WIDTH = 200;

/** Line `n` (1-based) of `text`, found without splitting the whole text. */
function lineAt(text: string, n: number): string | undefined {
  let start = 0;
  for (let i = 1; i < n; i++) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) return undefined;
    start = nl + 1;
  }
  const end = text.indexOf('\n', start);
  return text.slice(start, end < 0 ? text.length : end).replace(/\r$/, '');
}

function snippet(span: Span, sources: SourceLookup): string[] {
  const text = sources(span.file);
  if (text === undefined) return [];
  let line = lineAt(text, span.start.line);
  if (line === undefined) return [];
  const num = String(span.start.line);
  const gutter = ' '.repeat(num.length);
  let col = span.start.col; // 1-based
  let width =
    span.end.line === span.start.line ? Math.max(1, span.end.col - span.start.col) : Math.max(1, line.length - span.start.col + 1);
  if (line.length > MAX_ECHO_WIDTH) {
    // A window around the caret, with … marking what was cut.
    const from = Math.max(0, Math.min(col - 1 - 40, line.length - MAX_ECHO_WIDTH));
    const to = Math.min(line.length, from + MAX_ECHO_WIDTH);
    const head = from > 0 ? '…' : '';
    line = head + line.slice(from, to) + (to < line.length ? '…' : '');
    col = col - from + head.length;
    width = Math.min(width, to - (span.start.col - 1));
  }
  width = Math.max(1, Math.min(width, MAX_ECHO_WIDTH));
  const caret = ' '.repeat(Math.max(0, col - 1)) + '^' + '~'.repeat(Math.max(0, width - 1));
  return [`${gutter} |`, `${num} | ${line}`, `${gutter} | ${caret}`];
}

/** A message is shown whole up to this many characters (a message quoting a huge token is cut). */
const MAX_MESSAGE = 400;
const clip = (s: string) => (s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE)}… (${s.length - MAX_MESSAGE} more characters)` : s);

/** Render one diagnostic: `file:line:col: error RLHFnnnn: message`, the source line, a caret, notes, related spans. */
export function renderDiagnostic(d: Diagnostic, sources: SourceLookup): string {
  const out: string[] = [];
  const head = `${d.severity} ${d.code}: ${clip(d.message)}`;
  out.push(d.span ? `${fmtLoc(d.span)}: ${head}` : head);
  if (d.span) out.push(...snippet(d.span, sources));
  for (const n of d.notes ?? []) out.push(`  = ${clip(n)}`);
  for (const r of d.related ?? []) {
    out.push(`${fmtLoc(r.span)}: note: ${r.message}`);
    out.push(...snippet(r.span, sources));
  }
  return out.join('\n');
}

/** Diagnostics rendered per file; beyond it one line says how many more there are. */
export const MAX_DIAGNOSTICS_PER_FILE = 20;

export function renderDiagnostics(ds: Diagnostic[], sources: SourceLookup): string {
  const sorted = [...ds].sort(compareDiagnostics);
  const perFile = new Map<string, number>();
  const parts: string[] = [];
  for (const d of sorted) {
    const f = d.span?.file ?? '';
    const n = (perFile.get(f) ?? 0) + 1;
    perFile.set(f, n);
    if (n <= MAX_DIAGNOSTICS_PER_FILE) parts.push(renderDiagnostic(d, sources));
  }
  for (const [f, n] of perFile) if (n > MAX_DIAGNOSTICS_PER_FILE) parts.push(`… ${n - MAX_DIAGNOSTICS_PER_FILE} more diagnostics${f ? ` in ${f}` : ''} not shown`);
  const body = parts.join('\n\n');
  const errors = sorted.filter((d) => d.severity === 'error').length;
  const warnings = sorted.length - errors;
  const summary = `${errors} error${errors === 1 ? '' : 's'}${warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''}`;
  return sorted.length ? `${body}\n\n${summary}\n` : '';
}

export function compareDiagnostics(a: Diagnostic, b: Diagnostic): number {
  const fa = a.span?.file ?? '';
  const fb = b.span?.file ?? '';
  if (fa !== fb) return fa < fb ? -1 : 1;
  const oa = a.span?.start.offset ?? -1;
  const ob = b.span?.start.offset ?? -1;
  if (oa !== ob) return oa - ob;
  return a.code < b.code ? -1 : a.code > b.code ? 1 : 0;
}

/** Edit distance counting an adjacent transposition as one edit (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  const d: number[][] = Array.from({ length: m + 1 }, (_, i) => [i, ...new Array<number>(n).fill(0)]);
  for (let j = 0; j <= n; j++) d[0][j] = j;
  for (let i = 1; i <= m; i++) {
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[m][n];
}

/**
 * The closest candidate: within an edit distance proportional to the name's length, or one the
 * name abbreviates (`prefs` → `preferences`); undefined when nothing is close.
 */
export function didYouMean(name: string, candidates: Iterable<string>): string | undefined {
  if (name.length > 64) return undefined; // bounded: edit distance is quadratic, and no real name is this long
  let best: string | undefined;
  let bestD = Infinity;
  const lower = name.toLowerCase();
  const limit = Math.max(1, Math.floor(name.length / 3));
  const list = [...candidates].filter((c) => c !== name && c.length <= 64);
  for (const c of list) {
    const d = editDistance(lower, c.toLowerCase());
    if (d < bestD || (d === bestD && best !== undefined && c < best)) {
      best = c;
      bestD = d;
    }
  }
  if (bestD <= limit) return best;
  if (lower.length >= 3) return list.filter((c) => c.toLowerCase().startsWith(lower)).sort()[0];
  return undefined;
}

/** `unknown parameter 'lr'` + `; did you mean 'learning_rate'?` when one is close. */
export function withSuggestion(message: string, name: string, candidates: Iterable<string>): string {
  const s = didYouMean(name, candidates);
  return s ? `${message}; did you mean '${s}'?` : message;
}
