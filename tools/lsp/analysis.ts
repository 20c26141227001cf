// What the language server knows about a `.rlhf` text: the role of every token (declaration name,
// parameter key with its block path, reference, stage output, template parameter, ...), found by
// one pass over the lexer's tokens so it works while the file is being typed (half-written, with
// syntax errors), plus the declarations of the file and its imports from the parser's ASTs.
// Parameter facts come from the schemas (runtime/stages/*, runtime/sources/*); nothing here
// duplicates the checker's rules.

import type { IToken } from 'chevrotain';
import type * as A from '../../grammar/ast.ts';
import { loadProgram } from '../../compiler/load.ts';
import { rlhfLexer } from '../../grammar/lexer.ts';
import { STAGE_SCHEMAS } from '../../runtime/stages/index.ts';
import { DATASET_SOURCES, JUDGE_SOURCES, MODEL_SOURCES, SETTINGS, TOKENIZER_SOURCES, datasetKindOf } from '../../runtime/sources/index.ts';
import type { ArtifactType, ConstructorSchema, ParamSpec } from '../../core/schema.ts';
import { resolve } from 'node:path';

export interface Tok {
  type: string;
  text: string;
  start: number;
  end: number;
}

/** The declaration a token belongs to, as far as its header has been read. */
export interface Head {
  kind: 'stage' | 'template' | 'dataset' | 'tokenizer' | 'model' | 'setting' | 'import';
  name?: string;
  base?: string;
  callee?: string;
  /** Template parameters (template declarations). */
  params: string[];
  start: number;
}

/** Where a token sits: inside which declaration, which block (path of keys), which bracket. */
export interface Frame {
  bracket: 'top' | '{' | '(' | '[';
  head?: Head;
  /** Keys of the enclosing blocks, outermost first ([] in a declaration's own block). */
  path: string[];
  /** The entry key this bracket belongs to (a list or call written as that key's value). */
  key?: string;
  /** Keys already written in this block. */
  keys: Set<string>;
  /** For '(' frames: what the parentheses belong to. */
  paren?: 'params' | 'baseArgs' | 'sourceArgs' | 'call' | 'group';
  callee?: string;
  parent?: Frame;
}

export type Role =
  | { r: 'declName'; head: Head }
  | { r: 'base'; head: Head }
  | { r: 'callee'; frame: Frame; head: Head }
  | { r: 'key'; frame: Frame; head: Head }
  | { r: 'ref'; frame: Frame; head: Head; key?: string }
  | { r: 'tparam'; head: Head }
  | { r: 'output'; stage: string }
  | { r: 'param'; head: Head }
  | { r: 'argName'; template?: string; callee?: string }
  | { r: 'import'; path: string }
  | { r: 'other' };

export interface Scanned {
  toks: Tok[];
  roles: Role[];
  /** The frame after each token (what a cursor right after it is inside). */
  after: Frame[];
  /** The declaration being read after each token (for top-level positions). */
  headAfter: (Head | undefined)[];
  top: Frame;
}

const DECL_KW = new Set(['Import', 'Dataset', 'Tokenizer', 'Model', 'Stage', 'Template']);
const KEYWORD_TYPES = new Set(['Import', 'Dataset', 'Tokenizer', 'Model', 'Stage', 'Template', 'True', 'False']);
const isName = (t: Tok | undefined) => !!t && (t.type === 'Identifier' || KEYWORD_TYPES.has(t.type));

export function tokens(text: string): Tok[] {
  return rlhfLexer.tokenize(text).tokens.map((t: IToken) => ({ type: t.tokenType.name, text: t.image, start: t.startOffset, end: t.endOffset! + 1 }));
}

/** One pass over the tokens: the role of each and the bracket frame after it. */
export function scan(text: string): Scanned {
  const toks = tokens(text);
  const top: Frame = { bracket: 'top', path: [], keys: new Set() };
  const roles: Role[] = [];
  const after: Frame[] = [];
  const headAfter: (Head | undefined)[] = [];
  let f = top;
  let head: Head | undefined;
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i];
    const prev = toks[i - 1];
    const next = toks[i + 1];
    let role: Role = { r: 'other' };
    if (f.bracket === 'top') {
      // A new declaration: a keyword, or `name =` / `name {` not inside a header.
      const inHeader = prev && (DECL_KW.has(prev.type) || prev.type === 'Equals' || prev.type === 'Colon' || prev.type === 'Dot');
      if (DECL_KW.has(t.type)) head = { kind: t.text as Head['kind'], params: [], start: t.start };
      else if (t.type === 'Identifier' && !inHeader && (next?.type === 'Equals' || next?.type === 'LBrace')) {
        head = { kind: 'setting', name: t.text, params: [], start: t.start };
        role = { r: 'declName', head };
      } else if (head && isName(t)) {
        if (prev && DECL_KW.has(prev.type) && head.kind !== 'import') {
          head.name = t.text;
          role = { r: 'declName', head };
        } else if (prev?.type === 'Colon' && (head.kind === 'stage' || head.kind === 'template')) {
          head.base = t.text;
          role = { r: 'base', head };
        } else if (prev?.type === 'Equals' && (head.kind === 'dataset' || head.kind === 'tokenizer' || head.kind === 'model')) {
          head.callee = t.text;
          role = { r: 'callee', frame: f, head };
        } else if (head.kind === 'setting') role = refRole(t, prev, next, f, head);
      } else if (t.type === 'StringLit' && head?.kind === 'import' && prev?.type === 'Import') role = { r: 'import', path: t.text.slice(1, -1) };
      else if (head?.kind === 'setting' && isName(t)) role = refRole(t, prev, next, f, head);
    } else if (isName(t) && head) {
      // A name followed by ':' or '{' in a block is a key, even right after a key whose value is not typed yet.
      if (f.bracket === '{' && (next?.type === 'Colon' || next?.type === 'LBrace') && prev?.type !== 'Dot') {
        role = { r: 'key', frame: f, head };
        f.keys.add(t.text);
        f.key = t.text;
      } else if (f.bracket === '(' && f.paren === 'params' && t.type === 'Identifier' && !VALUE_BEFORE.has(prev?.type ?? '') && next?.type !== 'LParen' && next?.type !== 'Dot') {
        head.params.push(t.text);
        role = { r: 'param', head };
      } else if (f.bracket === '(' && next?.type === 'Colon' && (f.paren === 'baseArgs' || f.paren === 'sourceArgs' || f.paren === 'call')) {
        role = { r: 'argName', template: f.paren === 'baseArgs' ? head.base : undefined, callee: f.callee };
      } else role = refRole(t, prev, next, f, head);
    }
    roles.push(role);
    // Brackets.
    if (t.type === 'LBrace') {
      const inBlock = f.bracket === '{';
      const key = inBlock && isName(prev) ? prev!.text : undefined;
      f = { bracket: '{', head, path: key ? [...f.path, key] : f.bracket === 'top' ? [] : f.path, keys: new Set(), parent: f };
    } else if (t.type === 'LParen') {
      let paren: Frame['paren'] = 'group';
      if (f.bracket === 'top' && head?.kind === 'template' && !head.base) paren = 'params';
      else if (f.bracket === 'top' && (head?.kind === 'stage' || head?.kind === 'template')) paren = 'baseArgs';
      else if (f.bracket === 'top') paren = 'sourceArgs';
      else if (isName(prev)) paren = 'call';
      f = { bracket: '(', head, path: f.path, key: f.key, keys: new Set(), paren, callee: isName(prev) ? prev!.text : undefined, parent: f };
    } else if (t.type === 'LBracket') {
      f = { bracket: '[', head, path: f.path, key: f.key, keys: new Set(), parent: f };
    } else if ((t.type === 'RBrace' || t.type === 'RParen' || t.type === 'RBracket') && f.parent) {
      f = f.parent;
    }
    after.push(f);
    headAfter.push(head);
  }
  return { toks, roles, after, headAfter, top };
}

/** After these, a name in a template's parameter list is a default value, not a parameter. */
const VALUE_BEFORE = new Set(['Equals', 'Plus', 'Minus', 'Star', 'Slash', 'Colon', 'Dot']);

function refRole(t: Tok, prev: Tok | undefined, next: Tok | undefined, f: Frame, head: Head): Role {
  if (t.type !== 'Identifier') return { r: 'other' };
  if (prev?.type === 'Dot') return { r: 'other' }; // handled by the caller through outputRole
  if (next?.type === 'LParen') return { r: 'callee', frame: f, head };
  if (head.kind === 'template' && head.params.includes(t.text)) return { r: 'tparam', head };
  return { r: 'ref', frame: f, head, key: f.key };
}

/** Fix up `.output` roles once all tokens are known (`base.model`: `model` is an output of `base`). */
export function scanText(text: string): Scanned {
  const s = scan(text);
  for (let i = 2; i < s.toks.length; i++) {
    if (s.toks[i - 1].type === 'Dot' && isName(s.toks[i]) && s.roles[i - 2].r === 'ref') s.roles[i] = { r: 'output', stage: s.toks[i - 2].text };
  }
  return s;
}

export function tokenAt(s: Scanned, offset: number): number {
  for (let i = 0; i < s.toks.length; i++) if (s.toks[i].start <= offset && offset <= s.toks[i].end && (offset < s.toks[i].end || !s.toks[i + 1] || s.toks[i + 1].start > offset)) return i;
  return -1;
}

// ---- schemas -------------------------------------------------------------------------------------

export function constructorsFor(kind: Head['kind'] | 'judge'): Record<string, ConstructorSchema> {
  if (kind === 'dataset') return DATASET_SOURCES;
  if (kind === 'tokenizer') return TOKENIZER_SOURCES;
  if (kind === 'model') return MODEL_SOURCES;
  if (kind === 'judge') return JUDGE_SOURCES;
  return {};
}

// ---- the program: declarations of a file and its imports ----------------------------------------

export interface DeclInfo {
  decl: A.Decl;
  /** Absolute path of the file declaring it. */
  file: string;
}

export interface Program {
  main: string;
  /** Absolute path → AST, text; the files the main file reaches through imports, and itself. */
  files: Map<string, { ast: A.SourceFile; text: string }>;
  decls: Map<string, DeclInfo>;
}

export function loadFor(main: string, read: (p: string) => string | undefined): Program {
  const loaded = loadProgram(main, read);
  const files = new Map<string, { ast: A.SourceFile; text: string }>();
  for (const ast of loaded.files) files.set(resolve(ast.file), { ast, text: loaded.sources.get(ast.file) ?? '' });
  const decls = new Map<string, DeclInfo>();
  // Imports first, the main file last: the first declaration of a name wins, as in resolve.
  for (const [file, { ast }] of files) for (const d of ast.decls) if (d.name.name && !decls.has(d.name.name) && d.kind !== 'setting') decls.set(d.name.name, { decl: d, file });
  return { main, files, decls };
}

/** A template's stage kind, following templates built on templates. */
export function kindOf(p: Program, base: string | undefined, seen = new Set<string>()): string | undefined {
  if (!base) return undefined;
  if (STAGE_SCHEMAS[base]) return base;
  const d = p.decls.get(base)?.decl;
  if (!d || d.kind !== 'template' || seen.has(base)) return undefined;
  seen.add(base);
  return kindOf(p, d.base.name, seen);
}

/** The parameters allowed in a block of a declaration (path: keys of the nested blocks). */
export function paramsAt(p: Program, head: Head | undefined, path: string[]): Record<string, ParamSpec> | undefined {
  if (!head) return undefined;
  let params: Record<string, ParamSpec> | undefined;
  if (head.kind === 'stage' || head.kind === 'template') params = STAGE_SCHEMAS[kindOf(p, head.base) ?? '']?.params;
  else if (head.kind === 'dataset' || head.kind === 'tokenizer' || head.kind === 'model') params = constructorsFor(head.kind)[head.callee ?? '']?.params;
  else if (head.kind === 'setting') {
    const s = SETTINGS[head.name ?? ''];
    params = s?.type === 'block' ? s.fields : undefined;
  }
  for (const k of path) {
    const s = params?.[k];
    params = s?.type === 'block' ? s.fields : undefined;
  }
  return params;
}

/** The artifact types a declaration's name stands for: per output for stages. */
export function artifactsOf(p: Program, d: A.Decl): Record<string, ArtifactType> {
  switch (d.kind) {
    case 'dataset': {
      const callee = d.source.kind === 'call' ? d.source.callee.name : d.source.path[0].name;
      const first = d.source.kind === 'call' ? d.source.args[0]?.value : undefined;
      const kindEntry = d.body?.entries.find((e) => e.key.name === 'kind');
      const kindValue = kindEntry?.kind === 'field' ? exprWord(kindEntry.value) : undefined;
      const schema = DATASET_SOURCES[callee];
      const argName = schema?.args[0]?.name;
      const k = schema ? datasetKindOf(schema, { ...(argName && first?.kind === 'string' ? { [argName]: first.value } : {}), ...(kindValue ? { kind: kindValue } : {}) }) : undefined;
      return k ? { data: k } : {};
    }
    case 'tokenizer':
      return { tokenizer: 'tokenizer' };
    case 'model':
      return { model: 'causal_lm' };
    case 'stage':
      return STAGE_SCHEMAS[kindOf(p, d.base.name) ?? '']?.outputs ?? {};
    default:
      return {};
  }
}

function exprWord(e: A.Expr): string | undefined {
  if (e.kind === 'string') return e.value;
  if (e.kind === 'ref' && e.path.length === 1) return e.path[0].name;
  return undefined;
}

// ---- text for people ------------------------------------------------------------------------------

export function describeSpec(name: string, s: ParamSpec): string {
  const lines: string[] = [];
  let type: string;
  switch (s.type) {
    case 'int':
    case 'float': {
      type = s.type;
      const lo = s.min === undefined ? undefined : `${s.type === 'float' && s.minExclusive ? '(' : '['}${s.min}`;
      const hi = s.max === undefined ? undefined : `${s.max}${s.type === 'float' && s.maxExclusive ? ')' : ']'}`;
      if (lo || hi) type += ` in ${lo ?? '(−∞'}, ${hi ?? '∞)'}`;
      break;
    }
    case 'string':
      type = s.enum ? `one of ${s.enum.map((e) => `\`${e}\``).join(', ')}` : 'string';
      break;
    case 'list':
      type = `list of ${s.of}${s.enum ? ` (${s.enum.join(', ')})` : ''}`;
      break;
    case 'block':
      type = `block (${s.presence === 'optional' ? 'optional: absent unless written' : 'defaults apply when not written'}); fields: ${Object.keys(s.fields).join(', ')}`;
      break;
    case 'input':
      type = `${s.many ? 'list of references' : 'reference'} to ${s.accepts.join(' or ')}`;
      break;
    default:
      type = (s as { type: string }).type;
  }
  lines.push(`**${name}** — ${type}`);
  if (s.required) lines.push('', 'required');
  else if ('default' in s && s.default !== undefined) lines.push('', `default: \`${JSON.stringify(s.default)}\``);
  if (s.notInHash) lines.push('', 'does not change results (left out of the cache key)');
  lines.push('', s.doc);
  return lines.join('\n');
}

/** `# comment` lines right above a declaration: its documentation. */
export function leadingComments(text: string, start: number): string {
  const lines = text.slice(0, start).split('\n');
  lines.pop();
  const out: string[] = [];
  while (lines.length && /^\s*(#|\/\/)/.test(lines[lines.length - 1])) out.unshift(lines.pop()!.replace(/^\s*(#|\/\/)\s?/, ''));
  return out.join('\n');
}

export function templateSignature(t: A.TemplateDecl, text?: string): string {
  const params = t.params.map((p) => (p.default && text !== undefined ? `${p.name.name} = ${text.slice(p.default.span.start.offset, p.default.span.end.offset)}` : p.name.name));
  return `template ${t.name.name}(${params.join(', ')}): ${t.base.name}`;
}
