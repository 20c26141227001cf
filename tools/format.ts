// `rlhfc fmt`: the one canonical layout of a `.rlhf` file, computed from its tokens (with the
// comments between them) and the parser's AST (which tokens start declarations, entries, items).
//
// Rules (like gofmt/terraform fmt, the line breaks the author chose between entries are kept):
// - two-space indentation per open bracket line; `{` never starts a line;
// - a block written over several lines has `{` ending its first line and `}` on its own line;
// - one space around `=`, binary operators and after `:` and `,`; two spaces between entries
//   written on one line; block entries are never separated by commas; list items, arguments and
//   template parameters always are (no trailing comma when the closing bracket is on the same line);
// - at most one blank line in a row, none after `{` or before `}`; exactly one around every
//   top-level declaration that spans several lines;
// - consecutive one-line declarations of the same keyword align their `=` (or stage kinds), and
//   consecutive lines that each hold one simple field align their values;
// - comments stay where they are (own line, or two spaces after the code they follow).
// The result parses to the same AST (checked on every call), so the plan and its hashes do not change.

import type { IToken } from 'chevrotain';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { specFilesIn } from '../compiler/load.ts';
import type * as A from '../grammar/ast.ts';
import { renderDiagnostics, type Diagnostic } from '../core/diagnostics.ts';
import { rlhfLexer } from '../grammar/lexer.ts';
import { parse } from '../grammar/parse.ts';

export type FormatResult = { ok: true; text: string; changed: boolean } | { ok: false; diagnostics: Diagnostic[] };

interface El {
  text: string;
  /** Token type name, or 'Comment'. */
  type: string;
  start: number;
  end: number;
  /** Line breaks before this element: 0 (same line), 1 (new line) or 2 (after one blank line). */
  nl: number;
  /** A `-` that is a sign. */
  unary?: boolean;
  /** A comma the formatter inserted. */
  synthetic?: boolean;
}

const OPEN: Record<string, string> = { LBrace: 'RBrace', LParen: 'RParen', LBracket: 'RBracket' };
const CLOSERS = new Set(['RBrace', 'RParen', 'RBracket']);
const OPERATORS = new Set(['Plus', 'Minus', 'Star', 'Slash']);
/** After these a `-` is a sign, not a subtraction. */
const BEFORE_UNARY = new Set(['Colon', 'Equals', 'LParen', 'LBracket', 'Comma', 'LBrace', 'Plus', 'Minus', 'Star', 'Slash']);

/** What the AST says about token offsets. */
interface Shape {
  /** Top-level imports and declarations: start offset → end offset (exclusive) and alignment group. */
  top: Map<number, { end: number; group?: string; alignAfter?: number }>;
  /** Block entries: start offset → entry. */
  entries: Map<number, { entry: A.Entry; end: number }>;
  /** Offsets where a list item, call argument or template parameter starts (not the first). */
  itemStarts: Set<number>;
}

function shapeOf(file: A.SourceFile): Shape {
  const top: Shape['top'] = new Map();
  const entries: Shape['entries'] = new Map();
  const itemStarts = new Set<number>();
  const items = (xs: { span: A.Span }[]) => xs.slice(1).forEach((x) => itemStarts.add(x.span.start.offset));
  const expr = (e: A.Expr): void => {
    if (e.kind === 'list') {
      items(e.items);
      e.items.forEach(expr);
    } else if (e.kind === 'call') args(e.args);
    else if (e.kind === 'binary') {
      expr(e.left);
      expr(e.right);
    } else if (e.kind === 'unary') expr(e.operand);
  };
  const args = (as: A.Arg[] | undefined) => {
    if (!as) return;
    items(as);
    as.forEach((a) => expr(a.value));
  };
  const block = (b: A.Block | undefined) => {
    for (const e of b?.entries ?? []) {
      entries.set(e.span.start.offset, { entry: e, end: e.span.end.offset });
      if (e.kind === 'block') block(e.body);
      else expr(e.value);
    }
  };
  for (const i of file.imports) top.set(i.span.start.offset, { end: i.span.end.offset });
  for (const d of file.decls) {
    switch (d.kind) {
      case 'setting':
        top.set(d.span.start.offset, { end: d.span.end.offset, group: d.value ? 'setting' : undefined, alignAfter: d.name.span.end.offset });
        if (d.value) expr(d.value);
        block(d.body);
        break;
      case 'dataset':
      case 'tokenizer':
      case 'model':
        top.set(d.span.start.offset, { end: d.span.end.offset, group: d.kind, alignAfter: d.name.span.end.offset });
        expr(d.source);
        block(d.body);
        break;
      case 'stage':
        // Align the stage kinds: `stage chat:  sft { ... }`.
        top.set(d.span.start.offset, { end: d.span.end.offset, group: 'stage', alignAfter: d.name.span.end.offset + 1 });
        args(d.args);
        block(d.body);
        break;
      case 'template':
        top.set(d.span.start.offset, { end: d.span.end.offset });
        items(d.params);
        d.params.forEach((p) => p.default && expr(p.default));
        args(d.baseArgs);
        block(d.body);
        break;
    }
  }
  return { top, entries, itemStarts };
}

/** Tokens and the comments between them, with the line breaks the author wrote. */
function elements(text: string, tokens: IToken[]): El[] {
  const els: El[] = [];
  let pos = 0;
  const gap = (upto: number) => {
    const g = text.slice(pos, upto);
    const re = /(?:#|\/\/)[^\n\r]*/g;
    let last = 0;
    let m: RegExpExecArray | null;
    let pendingNl = 0;
    while ((m = re.exec(g))) {
      pendingNl += count(g.slice(last, m.index));
      els.push({ text: m[0].trimEnd(), type: 'Comment', start: pos + m.index, end: pos + m.index + m[0].length, nl: Math.min(2, pendingNl) });
      pendingNl = 0;
      last = m.index + m[0].length;
    }
    return pendingNl + count(g.slice(last));
  };
  const count = (s: string) => (s.match(/\n/g) ?? []).length;
  for (const t of tokens) {
    const nl = gap(t.startOffset);
    els.push({ text: t.image, type: t.tokenType.name, start: t.startOffset, end: t.endOffset! + 1, nl: Math.min(2, nl) });
    pos = t.endOffset! + 1;
  }
  gap(text.length);
  return els;
}

/** Format one file's text. Files with syntax errors are refused with the parser's diagnostics. */
export function formatText(text: string, file = '<input>'): FormatResult {
  const { ast, diagnostics } = parse(text, file);
  if (diagnostics.some((d) => d.severity === 'error')) return { ok: false, diagnostics };
  const out = layout(text, ast);
  // The safety net: the output must parse to the same tree as the input.
  const again = parse(out, file);
  if (again.diagnostics.length || stripSpans(again.ast) !== stripSpans(ast)) {
    throw new Error(`rlhfc fmt: formatting ${file} would change its meaning (a bug in tools/format.ts); the file was left as it is`);
  }
  return { ok: true, text: out, changed: out !== text };
}

function stripSpans(f: A.SourceFile): string {
  return JSON.stringify(f, (k, v) => (k === 'span' || k === 'file' ? undefined : v));
}

function layout(text: string, ast: A.SourceFile): string {
  const shape = shapeOf(ast);
  let els = elements(text, rlhfLexer.tokenize(text).tokens);
  if (!els.length) return '';

  // ---- separators: no commas between block entries; commas between items --------------------
  {
    const out: El[] = [];
    const stack: string[] = [];
    for (let i = 0; i < els.length; i++) {
      const e = els[i];
      if (OPEN[e.type]) stack.push(e.type);
      else if (CLOSERS.has(e.type)) stack.pop();
      const inner = stack[stack.length - 1];
      if (e.type === 'Comma') {
        const next = els.slice(i + 1).find((x) => x.type !== 'Comment');
        const trailing = next && CLOSERS.has(next.type) && els[i + 1] === next && next.nl === 0;
        if (inner === 'LBrace' || trailing) {
          if (els[i + 1]) els[i + 1] = { ...els[i + 1], nl: Math.max(els[i + 1].nl, e.nl) };
          continue;
        }
      }
      if (shape.itemStarts.has(e.start)) {
        const prev = lastToken(out);
        if (prev && prev.type !== 'Comma') {
          // Insert the comma right after the previous token (before any comment that follows it).
          const at = out.lastIndexOf(prev) + 1;
          out.splice(at, 0, { text: ',', type: 'Comma', start: prev.end, end: prev.end, nl: 0, synthetic: true });
        }
      }
      out.push(e);
    }
    els = out;
  }
  let before: El | undefined;
  for (const e of els) {
    if (e.type === 'Comment') continue;
    if (e.type === 'Minus') e.unary = !before || BEFORE_UNARY.has(before.type);
    before = e;
  }
  const tokAt = (start: number) => els.findIndex((e) => e.start === start && e.type !== 'Comment' && !e.synthetic);

  // ---- matching brackets -------------------------------------------------------------------
  const match = new Map<number, number>();
  {
    const stack: number[] = [];
    els.forEach((e, i) => {
      if (OPEN[e.type]) stack.push(i);
      else if (CLOSERS.has(e.type)) {
        const o = stack.pop()!;
        match.set(o, i);
        match.set(i, o);
      }
    });
  }

  // ---- line breaks ---------------------------------------------------------------------------
  const prevIs = (i: number, pred: (e: El) => boolean) => i > 0 && pred(els[i - 1]);
  els.forEach((e, i) => {
    // These never start a line (unless a comment is in the way).
    if (['LBrace', 'Comma', 'Colon', 'Dot', 'Equals'].includes(e.type) && prevIs(i, (p) => p.type !== 'Comment')) e.nl = 0;
    if (e.type !== 'Comment' && prevIs(i, (p) => p.type === 'Comment')) e.nl = Math.max(1, e.nl);
    if (shape.top.has(e.start) && i > 0) e.nl = Math.max(1, e.nl);
    if (CLOSERS.has(e.type) || prevIs(i, (p) => !!OPEN[p.type])) e.nl = Math.min(1, e.nl);
  });
  const multiline = (open: number) => {
    for (let j = open + 1; j <= match.get(open)!; j++) if (els[j].nl > 0) return true;
    return false;
  };
  // Outer blocks first: breaking an inner block breaks its parents, never the other way round.
  const braces = els.map((e, i) => i).filter((i) => els[i].type === 'LBrace');
  for (const o of braces) {
    const c = match.get(o)!;
    if (!multiline(o)) continue;
    const first = els[o + 1];
    if (!(first.type === 'Comment' && first.nl === 0)) first.nl = 1;
    els[c].nl = 1;
    const after = els[c + 1];
    if (after && after.type !== 'Comment' && after.nl === 0 && !['RParen', 'RBracket', 'Comma', 'RBrace'].includes(after.type)) after.nl = 1;
  }
  // A block entry whose block spans lines starts on its own line.
  for (const [start, { entry }] of shape.entries) {
    if (entry.kind !== 'block') continue;
    const i = tokAt(start);
    const o = els.findIndex((e, j) => j > i && e.type === 'LBrace');
    if (multiline(o) && !prevIs(i, (p) => p.type === 'LBrace')) els[i].nl = Math.max(1, els[i].nl);
  }
  // One blank line around top-level declarations that span lines.
  const tops = [...shape.top.entries()]
    .map(([start, t]) => {
      const first = tokAt(start);
      let last = first;
      while (last + 1 < els.length && els[last + 1].start < t.end) last++;
      while (els[last].type === 'Comment') last--;
      let ml = false;
      for (let j = first + 1; j <= last; j++) if (els[j].nl > 0) ml = true;
      return { first, last, ml, ...t };
    })
    .sort((a, b) => a.first - b.first);
  for (let k = 1; k < tops.length; k++) {
    if (!tops[k - 1].ml && !tops[k].ml) continue;
    for (let j = tops[k - 1].last + 1; j <= tops[k].first; j++) {
      if (els[j].nl > 0) {
        els[j].nl = 2;
        break;
      }
    }
  }
  els[0].nl = 0;

  // ---- lines, indentation and spaces -----------------------------------------------------------
  interface Piece {
    el: El;
    idx: number;
    pre: string;
  }
  interface Line {
    indent: number;
    pieces: Piece[];
    blankBefore: boolean;
  }
  const lines: Line[] = [];
  const stack: { line: number }[] = [];
  let prevTok: El | undefined;
  els.forEach((e, i) => {
    if (e.nl > 0 || !lines.length) {
      // Indentation: brackets still open after the closers that start this line, one level per line that opened some.
      const open = [...stack];
      for (let j = i; j < els.length && CLOSERS.has(els[j].type) && (j === i || els[j].nl === 0); j++) open.pop();
      lines.push({ indent: new Set(open.map((s) => s.line)).size, pieces: [], blankBefore: e.nl > 1 });
    }
    const line = lines[lines.length - 1];
    const pre = line.pieces.length ? space(prevTok!, e, els[i - 1], shape) : '';
    line.pieces.push({ el: e, idx: i, pre });
    if (OPEN[e.type]) stack.push({ line: lines.length - 1 });
    else if (CLOSERS.has(e.type)) stack.pop();
    if (e.type !== 'Comment') prevTok = e;
  });

  // ---- alignment -------------------------------------------------------------------------------
  alignRuns(lines, (l) => {
    // One simple field per line: `key: value` (plus maybe a comment), inside a block.
    const p = l.pieces;
    const ent = p[0].el.synthetic ? undefined : shape.entries.get(p[0].el.start);
    if (!ent || ent.entry.kind !== 'field' || p[0].el.type === 'Comment' || p.length < 3 || p[1].el.type !== 'Colon') return undefined;
    const code = p.filter((x) => x.el.type !== 'Comment');
    if (code[code.length - 1].el.end !== ent.end) return undefined;
    return { group: `field@${l.indent}`, at: 2 };
  });
  alignRuns(lines, (l) => {
    const p = l.pieces;
    const t = shape.top.get(p[0].el.start);
    if (!t || !t.group || t.alignAfter === undefined || p[0].el.type === 'Comment') return undefined;
    const code = p.filter((x) => x.el.type !== 'Comment');
    if (code[code.length - 1].el.end !== t.end) return undefined;
    const at = p.findIndex((x) => x.el.start >= t.alignAfter!);
    return at > 0 ? { group: t.group, at } : undefined;
  });

  const outLines: string[] = [];
  for (const l of lines) {
    if (l.blankBefore) outLines.push('');
    outLines.push(('  '.repeat(l.indent) + l.pieces.map((p) => p.pre + p.el.text).join('')).trimEnd());
  }
  return outLines.join('\n') + '\n';
}

function lastToken(els: El[]): El | undefined {
  for (let i = els.length - 1; i >= 0; i--) if (els[i].type !== 'Comment') return els[i];
  return undefined;
}

/** The spaces between two elements on one line. `prev` is the previous token, `before` the previous element. */
function space(prev: El, e: El, before: El, shape: Shape): string {
  if (e.type === 'Comment') return '  ';
  if (before.type === 'Comment') return ' ';
  const p = prev.type;
  if (!e.synthetic && shape.entries.has(e.start) && p !== 'LBrace') return '  ';
  if (p === 'LBrace' && e.type === 'RBrace') return '';
  if (p === 'LBrace' || e.type === 'LBrace' || e.type === 'RBrace') return ' ';
  if (['Comma', 'Colon', 'Dot', 'RParen', 'RBracket'].includes(e.type)) return '';
  if (['LParen', 'LBracket', 'Dot'].includes(p)) return '';
  if (e.type === 'LParen') return p === 'Identifier' ? '' : ' ';
  if (p === 'Minus' && prev.unary) return '';
  return ' ';
}

/** Pad `pieces[at].pre` so that runs of consecutive lines with the same group line up at that piece. */
function alignRuns(lines: { pieces: { el: El; pre: string }[]; blankBefore: boolean; indent: number }[], pick: (l: (typeof lines)[number]) => { group: string; at: number } | undefined): void {
  let run: { line: (typeof lines)[number]; at: number }[] = [];
  let group: string | undefined;
  const flush = () => {
    if (run.length > 1) {
      const col = (r: (typeof run)[number]) => r.line.pieces.slice(0, r.at).reduce((n, p) => n + p.pre.length + p.el.text.length, 0);
      const target = Math.max(...run.map(col)) + 1;
      for (const r of run) r.line.pieces[r.at].pre = ' '.repeat(target - col(r));
    }
    run = [];
  };
  for (const l of lines) {
    const got = pick(l);
    if (!got || l.blankBefore || got.group !== group) flush();
    group = got?.group;
    if (got) run.push({ line: l, at: got.at });
  }
  flush();
}

// ---- the command ------------------------------------------------------------------------------

export interface FmtIo {
  out: (s: string) => void;
  err: (s: string) => void;
}

/** The `.rlhf` files named, or found under the folders named (skipping node_modules and dot-folders). */
export function specFiles(paths: string[]): { files: string[]; missing: string[] } {
  const files: string[] = [];
  const missing: string[] = [];
  for (const p of paths) {
    const st = existsSync(p) ? statSync(p) : undefined;
    if (st?.isDirectory()) files.push(...specFilesIn(p, { libraries: true }));
    else if (st?.isFile()) files.push(p);
    else missing.push(p);
  }
  return { files, missing };
}

/**
 * `rlhfc fmt [PATHS] [--check]`: rewrite files in the canonical layout (printing the ones changed),
 * or with `check` only list those that would change. Returns the exit code: 0, 1 (files would
 * change, or syntax errors), 2 (a path that does not exist).
 */
export function runFmt(paths: string[], opts: { check?: boolean }, io: FmtIo): number {
  const { files, missing } = specFiles(paths.length ? paths : ['.']);
  for (const m of missing) io.err(`error: '${m}' is not a spec file or a folder\n`);
  if (missing.length) return 2;
  let changed = 0;
  let failed = 0;
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    const shown = f.split('\\').join('/');
    const r = formatText(text, shown);
    if (!r.ok) {
      io.err(renderDiagnostics(r.diagnostics, (p) => (p === shown ? text : undefined)));
      io.err(`${shown}: not formatted (syntax errors)\n`);
      failed++;
      continue;
    }
    if (!r.changed) continue;
    changed++;
    if (opts.check) io.out(`${shown}\n`);
    else {
      const tmp = `${f}.${process.pid}.fmt.tmp`;
      writeFileSync(tmp, r.text);
      renameSync(tmp, f);
      io.out(`${shown}\n`);
    }
  }
  if (opts.check && changed) io.err(`${changed} file${changed === 1 ? '' : 's'} not formatted; run \`rlhfc fmt\` to fix\n`);
  return failed || (opts.check && changed) ? 1 : 0;
}
