// The abstract syntax tree of a `.rlhf` file: plain data, every node with a source span.
// Produced by grammar/ (parse + CST→AST), consumed by compiler/resolve.ts.
//
// Surface syntax (see README "Language reference"):
//
//   import "lib/templates.rlhf"
//   seed = 42                                   # top-level setting
//   dataset speeches = corpus("sotu") { split { validation: 0.05 } }
//   tokenizer bpe = bpe(speeches) { vocab_size: 512 }
//   model tiny = gpt { layers: 2  heads: 4  width: 128  context: 64 }
//   template lora_sft(r = 8, lr = 1e-3): sft { lora { r: r  alpha: 2 * r } }
//   stage chat: lora_sft(r: 16) { model: base.model  data: qa }
//   stage rm: reward { model: base.model  data: prefs }

export type { Pos, Span } from '../core/span.ts';
import type { Span } from '../core/span.ts';

export interface Ident {
  name: string;
  span: Span;
}

// ---------------------------------------------------------------------------
// Expressions

export type Expr =
  | NumberLit
  | StringLit
  | BoolLit
  | ListExpr
  | RefExpr
  | CallExpr
  | BinaryExpr
  | UnaryExpr;

export interface NumberLit {
  kind: 'number';
  value: number;
  /** true when written without '.', 'e' or 'E' (e.g. `64`), false for `0.1`, `1e-3`. */
  isInt: boolean;
  span: Span;
}

export interface StringLit {
  kind: 'string';
  value: string; // escapes already decoded (\n, \t, \", \\, \u{...})
  span: Span;
}

export interface BoolLit {
  kind: 'bool';
  value: boolean;
  span: Span;
}

export interface ListExpr {
  kind: 'list';
  items: Expr[];
  span: Span;
}

/** A name, optionally dotted: `tiny`, `r`, `sft.model`, `rm.model`. */
export interface RefExpr {
  kind: 'ref';
  path: Ident[]; // at least one element
  span: Span;
}

/** `corpus("sotu")`, `bpe(speeches)`, `fn("./hooks.ts#politeness")`, `sentiment("vader")`. Named args allowed: `f(a, k: v)`. */
export interface CallExpr {
  kind: 'call';
  callee: Ident;
  args: Arg[];
  span: Span;
}

export interface Arg {
  name?: Ident; // present for `k: v` (named argument)
  value: Expr;
  span: Span;
}

export type BinaryOp = '+' | '-' | '*' | '/';

export interface BinaryExpr {
  kind: 'binary';
  op: BinaryOp;
  left: Expr;
  right: Expr;
  span: Span;
}

export interface UnaryExpr {
  kind: 'unary';
  op: '-';
  operand: Expr;
  span: Span;
}

// ---------------------------------------------------------------------------
// Blocks: `{ key: expr   nested { ... }   ... }`
// Entries may be separated by newlines, commas or just whitespace.

export type Entry = FieldEntry | BlockEntry;

/** `key: expr` */
export interface FieldEntry {
  kind: 'field';
  key: Ident;
  value: Expr;
  span: Span;
}

/** `key { ... }` — a nested parameter block such as `lora { r: 8 }`. */
export interface BlockEntry {
  kind: 'block';
  key: Ident;
  body: Block;
  span: Span;
}

export interface Block {
  entries: Entry[];
  span: Span; // from '{' to '}'
}

// ---------------------------------------------------------------------------
// Declarations

export type Decl = DatasetDecl | TokenizerDecl | ModelDecl | StageDecl | TemplateDecl | SettingDecl;

/**
 * `dataset NAME = source(args) { body }`; the same shape serves tokenizer and model.
 * `source` is a CallExpr (`corpus("sotu")`) or a bare RefExpr naming a constructor without args (`gpt`).
 */
export interface DatasetDecl {
  kind: 'dataset';
  name: Ident;
  source: CallExpr | RefExpr;
  body?: Block;
  span: Span;
}

export interface TokenizerDecl {
  kind: 'tokenizer';
  name: Ident;
  source: CallExpr | RefExpr;
  body?: Block;
  span: Span;
}

export interface ModelDecl {
  kind: 'model';
  name: Ident;
  source: CallExpr | RefExpr;
  body?: Block;
  span: Span;
}

/** `stage NAME: kind { body }` or `stage NAME: template(args) { overrides }`. */
export interface StageDecl {
  kind: 'stage';
  name: Ident;
  /** The stage kind (`sft`) or a template's name (`lora_sft`). Resolve decides which. */
  base: Ident;
  /** Template arguments, when written with parentheses (`lora_sft(r: 16)`); undefined when no parentheses. */
  args?: Arg[];
  body: Block;
  span: Span;
}

export interface TemplateParam {
  name: Ident;
  default?: Expr;
  span: Span;
}

/** `template NAME(p1, p2 = default): kind { body }` — body may use params as names and in arithmetic. */
export interface TemplateDecl {
  kind: 'template';
  name: Ident;
  params: TemplateParam[];
  /** The stage kind or another template it extends. */
  base: Ident;
  baseArgs?: Arg[];
  body: Block;
  span: Span;
}

/** Top-level `name = expr` (`seed = 42`, `artifacts = ".rlhfc"`) or `name { ... }` (`cluster { gpus: 8 }`). */
export type SettingDecl = {
  kind: 'setting';
  name: Ident;
  span: Span;
} & ({ value: Expr; body?: undefined } | { body: Block; value?: undefined });

export interface ImportDecl {
  kind: 'import';
  path: StringLit;
  span: Span;
}

export interface SourceFile {
  kind: 'file';
  file: string;
  imports: ImportDecl[];
  decls: Decl[];
  span: Span;
}
