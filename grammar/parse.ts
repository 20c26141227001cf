// parse(): text → AST (grammar/ast.ts) + syntax diagnostics (RLHF1xxx).
// Lexing and parsing recover from errors, so one run reports several; the AST is best-effort
// where there were errors (later phases only run on files without syntax errors).

import type { CstNode, ILexingError, IRecognitionException, IToken } from 'chevrotain';
import type * as A from './ast.ts';
import { diag, type Diagnostic } from '../core/diagnostics.ts';
import { rlhfLexer } from './lexer.ts';
import { parser } from './cst-parser.ts';

type Children = Record<string, (CstNode | IToken)[] | undefined>;

export interface ParseResult {
  ast: A.SourceFile;
  diagnostics: Diagnostic[];
}

/** Line starts, to turn offsets into line/col when chevrotain lacks them (lexer errors). */
function lineIndex(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

/** Deepest nesting accepted (real specs nest a handful of levels). */
export const MAX_NESTING = 32;
/** Syntax diagnostics kept per file; the rest are counted in one "N more" diagnostic. */
export const MAX_SYNTAX_DIAGNOSTICS = 50;

const OPEN = new Set(['LBrace', 'LParen', 'LBracket']);
const CLOSE = new Set(['RBrace', 'RParen', 'RBracket']);

/** The first token that opens a level beyond MAX_NESTING, if any. */
function nestingTooDeep(tokens: IToken[]): IToken | undefined {
  let depth = 0;
  let minus = 0;
  for (const t of tokens) {
    const n = t.tokenType.name;
    if (OPEN.has(n)) depth++;
    else if (CLOSE.has(n)) depth = Math.max(0, depth - 1);
    minus = n === 'Minus' ? minus + 1 : 0;
    if (depth + minus > MAX_NESTING) return t;
  }
  return undefined;
}

/** At most MAX_SYNTAX_DIAGNOSTICS, then one that says how many more there were. */
function capped(ds: Diagnostic[], file: string, spanOf: (a: number, b: number) => A.Span): Diagnostic[] {
  if (ds.length <= MAX_SYNTAX_DIAGNOSTICS) return ds;
  const kept = ds.slice(0, MAX_SYNTAX_DIAGNOSTICS);
  const last = kept[kept.length - 1].span ?? spanOf(0, 0);
  kept.push(diag('RLHF1003', `${ds.length - MAX_SYNTAX_DIAGNOSTICS} more syntax errors in ${file} not shown; fix the ones above first`, { ...last, start: last.end }));
  return kept;
}

export function parse(text: string, file: string): ParseResult {
  const diagnostics: Diagnostic[] = [];
  const lines = lineIndex(text);
  const posAt = (offset: number): A.Pos => {
    let lo = 0;
    let hi = lines.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lines[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - lines[lo] + 1, offset };
  };
  const spanOf = (start: number, end: number): A.Span => ({ file, start: posAt(start), end: posAt(end) });

  const lex = rlhfLexer.tokenize(text);
  for (const e of lex.errors as ILexingError[]) {
    const ch = text.slice(e.offset, e.offset + e.length);
    diagnostics.push(diag('RLHF1001', `unexpected character '${ch}'`, spanOf(e.offset, e.offset + Math.max(1, e.length))));
  }
  // Unterminated strings lex as their own token so the error is precise; drop them before parsing.
  const tokens: IToken[] = [];
  for (const t of lex.tokens) {
    if (t.tokenType.name === 'UnterminatedString') {
      diagnostics.push(diag('RLHF1002', 'unterminated string: add the closing \'"\' on the same line', spanOf(t.startOffset, t.endOffset! + 1)));
    } else tokens.push(t);
  }

  // A number glued to a name or another number (`12abc`, `1.2.3`, `1e`) is one malformed number.
  for (let i = 0; i + 1 < tokens.length; i++) {
    const t = tokens[i];
    const next = tokens[i + 1];
    if (t.tokenType.name === 'NumberLit' && next.startOffset === t.endOffset! + 1 && (next.tokenType.name === 'NumberLit' || /^[A-Za-z_]/.test(next.image))) {
      let end = next.endOffset! + 1;
      while (/[A-Za-z0-9_.]/.test(text[end] ?? '')) end++;
      diagnostics.push(diag('RLHF1006', `invalid number '${text.slice(t.startOffset, end)}'`, spanOf(t.startOffset, end), { notes: ['numbers look like 64, 0.1, .5, 1e-3 or 1.41e-5'] }));
    }
  }
  // Bounded by design: nesting deeper than MAX_NESTING (brackets, or chains of unary minus) would
  // overflow the recursive-descent parser's stack; it is one clean diagnostic instead, and parsing stops.
  const tooDeep = nestingTooDeep(tokens);
  if (tooDeep) {
    diagnostics.push(
      diag('RLHF1007', `nesting deeper than ${MAX_NESTING} levels`, spanOf(tooDeep.startOffset, tooDeep.endOffset! + 1), {
        notes: ['brackets, parentheses, blocks and unary minus nest; flatten the expression or split it into named values'],
      }),
    );
    return { ast: { kind: 'file', file, imports: [], decls: [], span: spanOf(0, text.length) }, diagnostics: capped(diagnostics, file, spanOf) };
  }
  parser.input = tokens;
  const cst = parser.file();
  for (const e of parser.errors as IRecognitionException[]) {
    const t = e.token;
    const atEnd = t.tokenType.name === 'EOF' || Number.isNaN(t.startOffset);
    const prev = (e as IRecognitionException & { previousToken?: IToken }).previousToken;
    const span =
      atEnd && prev && !Number.isNaN(prev.startOffset)
        ? spanOf(prev.endOffset! + 1, prev.endOffset! + 1)
        : atEnd
          ? spanOf(text.length, text.length)
          : spanOf(t.startOffset, t.endOffset! + 1);
    const code = e.name === 'MismatchedTokenException' && atEnd ? 'RLHF1004' : e.name === 'MismatchedTokenException' ? 'RLHF1004' : 'RLHF1003';
    diagnostics.push(diag(code, e.message, span));
  }

  const b = new Builder(file, text, spanOf, diagnostics);
  const ast = b.sourceFile(cst, spanOf(0, text.length));
  return { ast, diagnostics: capped(diagnostics, file, spanOf) };
}

class Builder {
  constructor(
    private readonly file: string,
    private readonly text: string,
    private readonly spanOf: (s: number, e: number) => A.Span,
    private readonly diagnostics: Diagnostic[],
  ) {}

  private tokSpan(t: IToken): A.Span {
    if (Number.isNaN(t.startOffset)) return this.spanOf(this.text.length, this.text.length);
    return this.spanOf(t.startOffset, t.endOffset! + 1);
  }

  private nodeSpan(n: CstNode): A.Span {
    const l = n.location;
    if (!l || Number.isNaN(l.startOffset)) return this.spanOf(this.text.length, this.text.length);
    return this.spanOf(l.startOffset, (Number.isNaN(l.endOffset!) ? l.startOffset : l.endOffset!) + 1);
  }

  private join(a: A.Span, b: A.Span): A.Span {
    return { file: this.file, start: a.start, end: b.end };
  }

  private ident(t: IToken | undefined, fallback: A.Span): A.Ident {
    return t ? { name: t.image, span: this.tokSpan(t) } : { name: '', span: fallback };
  }

  private c(n: CstNode): Children {
    return n.children as Children;
  }

  private tok(n: CstNode, name: string, i = 0): IToken | undefined {
    return this.c(n)[name]?.[i] as IToken | undefined;
  }

  private sub(n: CstNode, name: string, i = 0): CstNode | undefined {
    return this.c(n)[name]?.[i] as CstNode | undefined;
  }

  private subs(n: CstNode, name: string): CstNode[] {
    return (this.c(n)[name] ?? []) as CstNode[];
  }

  sourceFile(n: CstNode, span: A.Span): A.SourceFile {
    const imports: A.ImportDecl[] = [];
    const decls: A.Decl[] = [];
    for (const d of this.subs(n, 'declaration')) {
      const [kind, inner] = Object.entries(this.c(d)).find(([, v]) => v && v.length)! ?? [];
      if (!inner) continue;
      const node = inner[0] as CstNode;
      switch (kind) {
        case 'importDecl': {
          const s = this.tok(node, 'StringLit');
          if (s) imports.push({ kind: 'import', path: this.string(s), span: this.nodeSpan(node) });
          break;
        }
        case 'settingDecl': {
          const blockNode = this.sub(node, 'block');
          const name = this.ident(this.tok(node, 'Identifier'), this.nodeSpan(node));
          decls.push(
            blockNode
              ? { kind: 'setting', name, body: this.block(blockNode), span: this.nodeSpan(node) }
              : { kind: 'setting', name, value: this.exprOr(this.sub(node, 'expr'), node), span: this.nodeSpan(node) },
          );
          break;
        }
        case 'sourceDecl':
          decls.push(this.sourceDecl(node));
          break;
        case 'stageDecl':
          decls.push(this.stageDecl(node));
          break;
        case 'templateDecl':
          decls.push(this.templateDecl(node));
          break;
      }
    }
    return { kind: 'file', file: this.file, imports, decls, span };
  }

  private sourceDecl(n: CstNode): A.DatasetDecl | A.TokenizerDecl | A.ModelDecl {
    const kwNode = this.sub(n, 'sourceKeyword');
    const kw = kwNode ? (Object.values(this.c(kwNode)).find((v) => v && v.length)?.[0] as IToken | undefined) : undefined;
    const kind = (kw?.image ?? 'dataset') as 'dataset' | 'tokenizer' | 'model';
    const span = this.nodeSpan(n);
    const calleeTok = this.tok(n, 'callee');
    const callee = this.ident(calleeTok, span);
    const argsNode = this.sub(n, 'callArgs');
    const source: A.CallExpr | A.RefExpr = argsNode
      ? { kind: 'call', callee, args: this.args(argsNode), span: this.join(callee.span, this.nodeSpan(argsNode)) }
      : { kind: 'ref', path: [callee], span: callee.span };
    const blockNode = this.sub(n, 'block');
    return { kind, name: this.ident(this.tok(n, 'name'), span), source, body: blockNode ? this.block(blockNode) : undefined, span } as
      | A.DatasetDecl
      | A.TokenizerDecl
      | A.ModelDecl;
  }

  private stageDecl(n: CstNode): A.StageDecl {
    const span = this.nodeSpan(n);
    const argsNode = this.sub(n, 'callArgs');
    const blockNode = this.sub(n, 'block');
    return {
      kind: 'stage',
      name: this.ident(this.tok(n, 'name'), span),
      base: this.ident(this.tok(n, 'base'), span),
      args: argsNode ? this.args(argsNode) : undefined,
      body: blockNode ? this.block(blockNode) : { entries: [], span },
      span,
    };
  }

  private templateDecl(n: CstNode): A.TemplateDecl {
    const span = this.nodeSpan(n);
    const argsNode = this.sub(n, 'callArgs');
    const blockNode = this.sub(n, 'block');
    const params = this.subs(n, 'param').map((p): A.TemplateParam => {
      const e = this.sub(p, 'expr');
      return { name: this.ident(this.tok(p, 'Identifier'), this.nodeSpan(p)), default: e ? this.expr(e) : undefined, span: this.nodeSpan(p) };
    });
    return {
      kind: 'template',
      name: this.ident(this.tok(n, 'name'), span),
      params,
      base: this.ident(this.tok(n, 'base'), span),
      baseArgs: argsNode ? this.args(argsNode) : undefined,
      body: blockNode ? this.block(blockNode) : { entries: [], span },
      span,
    };
  }

  private block(n: CstNode): A.Block {
    const entries: A.Entry[] = [];
    for (const e of this.subs(n, 'entry')) {
      const keyNode = this.sub(e, 'key');
      const rest = this.sub(e, 'entryRest');
      if (!keyNode || !rest) continue;
      const key = this.keyIdent(keyNode);
      const inner = this.sub(rest, 'block');
      if (inner) entries.push({ kind: 'block', key, body: this.block(inner), span: this.nodeSpan(e) });
      else entries.push({ kind: 'field', key, value: this.exprOr(this.sub(rest, 'expr'), rest), span: this.nodeSpan(e) });
    }
    return { entries, span: this.nodeSpan(n) };
  }

  private keyIdent(n: CstNode): A.Ident {
    const t = Object.values(this.c(n)).find((v) => v && v.length)?.[0] as IToken | undefined;
    return this.ident(t, this.nodeSpan(n));
  }

  private args(n: CstNode): A.Arg[] {
    return this.subs(n, 'arg').map((a): A.Arg => {
      const keyNode = this.sub(a, 'key');
      return {
        name: keyNode ? this.keyIdent(keyNode) : undefined,
        value: this.exprOr(this.sub(a, 'expr'), a),
        span: this.nodeSpan(a),
      };
    });
  }

  /** An expression, or a harmless placeholder where recovery left a hole. */
  private exprOr(n: CstNode | undefined, parent: CstNode): A.Expr {
    return n ? this.expr(n) : { kind: 'number', value: 0, isInt: true, span: this.nodeSpan(parent) };
  }

  private expr(n: CstNode): A.Expr {
    return this.binary(n, 'term');
  }

  /** expr and term share a shape: operands separated by ops, left-associative. */
  private binary(n: CstNode, operandRule: 'term' | 'unary'): A.Expr {
    const operands = this.subs(n, 'operands');
    const ops = (this.c(n)['ops'] ?? []) as IToken[];
    const one = (o: CstNode) => (operandRule === 'term' ? this.binary(o, 'unary') : this.unary(o));
    if (!operands.length) return this.exprOr(undefined, n);
    let left = one(operands[0]);
    for (let i = 0; i < ops.length && i + 1 < operands.length; i++) {
      const right = one(operands[i + 1]);
      left = { kind: 'binary', op: ops[i].image as A.BinaryOp, left, right, span: this.join(left.span, right.span) };
    }
    return left;
  }

  private unary(n: CstNode): A.Expr {
    const minus = this.tok(n, 'Minus');
    const inner = this.sub(n, 'unary');
    if (minus) {
      const operand = inner ? this.unary(inner) : this.exprOr(undefined, n);
      return { kind: 'unary', op: '-', operand, span: this.join(this.tokSpan(minus), operand.span) };
    }
    const p = this.sub(n, 'primary');
    return p ? this.primary(p) : this.exprOr(undefined, n);
  }

  private primary(n: CstNode): A.Expr {
    const ch = this.c(n);
    const num = ch['NumberLit']?.[0] as IToken | undefined;
    if (num) {
      const isInt = /^\d+$/.test(num.image);
      return { kind: 'number', value: Number(num.image), isInt, span: this.tokSpan(num) };
    }
    const str = ch['StringLit']?.[0] as IToken | undefined;
    if (str) return this.string(str);
    const t = (ch['True'] ?? ch['False'])?.[0] as IToken | undefined;
    if (t) return { kind: 'bool', value: t.image === 'true', span: this.tokSpan(t) };
    const list = this.sub(n, 'list');
    if (list) return { kind: 'list', items: this.subs(list, 'expr').map((e) => this.expr(e)), span: this.nodeSpan(list) };
    const paren = this.sub(n, 'paren');
    if (paren) {
      const e = this.exprOr(this.sub(paren, 'expr'), paren);
      return { ...e, span: this.nodeSpan(paren) };
    }
    const r = this.sub(n, 'refOrCall');
    if (r) {
      const head = this.ident(this.tok(r, 'head'), this.nodeSpan(r));
      const callArgs = this.sub(r, 'callArgs');
      if (callArgs) return { kind: 'call', callee: head, args: this.args(callArgs), span: this.nodeSpan(r) };
      const tail = this.subs(r, 'tail').map((k) => this.keyIdent(k));
      return { kind: 'ref', path: [head, ...tail], span: this.nodeSpan(r) };
    }
    return this.exprOr(undefined, n);
  }

  /** Decode a string literal's escapes: \n \t \r \" \\ \0 \u{hex}; others are RLHF1005. */
  private string(t: IToken): A.StringLit {
    const span = this.tokSpan(t);
    const raw = t.image.slice(1, -1);
    let out = '';
    for (let i = 0; i < raw.length; i++) {
      const c = raw[i];
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = raw[++i];
      const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', '0': '\0' };
      if (e in simple) out += simple[e];
      else if (e === 'u' && raw[i + 1] === '{') {
        const close = raw.indexOf('}', i);
        const hex = close > 0 ? raw.slice(i + 2, close) : '';
        const cp = /^[0-9a-fA-F]{1,6}$/.test(hex) ? parseInt(hex, 16) : NaN;
        if (Number.isNaN(cp) || cp > 0x10ffff) {
          this.escapeError(t, i - 1, `invalid unicode escape '\\u{${hex}}': expected 1 to 6 hex digits up to 10FFFF`);
        } else out += String.fromCodePoint(cp);
        i = close > 0 ? close : raw.length;
      } else this.escapeError(t, i - 1, `invalid escape '\\${e ?? ''}' in string: expected one of \\n \\t \\r \\" \\\\ \\0 \\u{…}`);
    }
    return { kind: 'string', value: out, span };
  }

  private escapeError(t: IToken, rawIndex: number, message: string): void {
    const start = t.startOffset + 1 + rawIndex;
    this.diagnostics.push(diag('RLHF1005', message, this.spanOf(start, start + 2)));
  }
}
