// The language features, as pure functions of a program (the file and its imports) and a cursor:
// hover, completion, definition, references/rename, document symbols. The server (server.ts)
// turns LSP requests into calls of these.

import { dirname, resolve } from 'node:path';
import type * as A from '../../grammar/ast.ts';
import { parse } from '../../grammar/parse.ts';
import { STAGE_SCHEMAS, STAGE_KINDS } from '../../runtime/stages/index.ts';
import { JUDGE_SOURCES, SETTINGS } from '../../runtime/sources/index.ts';
import type { ParamSpec } from '../../core/schema.ts';
import {
  artifactsOf,
  constructorsFor,
  describeSpec,
  kindOf,
  leadingComments,
  paramsAt,
  scanText,
  templateSignature,
  tokenAt,
  type DeclInfo,
  type Frame,
  type Head,
  type Program,
  type Scanned,
} from './analysis.ts';

/** A place in a file: absolute path and offsets [start, end). */
export interface Place {
  file: string;
  start: number;
  end: number;
}

export interface Completion {
  label: string;
  kind: 'property' | 'block' | 'value' | 'reference' | 'function' | 'keyword' | 'enum' | 'template' | 'kind';
  detail?: string;
  doc?: string;
  /** Snippet syntax ($1, $0) when `snippet` is true. */
  insert?: string;
  snippet?: boolean;
  sort?: string;
}

export const KEYWORDS = ['import', 'dataset', 'tokenizer', 'model', 'stage', 'template'];
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function fileText(p: Program, file: string): string {
  return p.files.get(file)?.text ?? '';
}

// ---- hover ----------------------------------------------------------------------------------------

export function hover(p: Program, file: string, offset: number): { text: string; start: number; end: number } | undefined {
  const text = fileText(p, file);
  const s = scanText(text);
  const i = tokenAt(s, offset);
  if (i < 0) return undefined;
  const t = s.toks[i];
  const role = s.roles[i];
  const out = (md: string | undefined) => (md ? { text: md, start: t.start, end: t.end } : undefined);
  switch (role.r) {
    case 'key': {
      const spec = paramsAt(p, role.head, role.frame.path)?.[t.text];
      return out(spec && describeSpec(t.text, spec));
    }
    case 'declName':
      if (role.head.kind === 'setting') return out(SETTINGS[t.text] && describeSpec(t.text, SETTINGS[t.text]));
      return out(describeDecl(p, t.text));
    case 'ref': {
      const d = describeDecl(p, t.text);
      if (d) return out(d);
      return undefined;
    }
    case 'output': {
      const info = p.decls.get(role.stage);
      if (!info || info.decl.kind !== 'stage') return undefined;
      const type = artifactsOf(p, info.decl)[t.text];
      return out(type ? `\`${role.stage}.${t.text}\` — **${type}**, output of stage \`${role.stage}\` (${kindOf(p, info.decl.base.name)})` : undefined);
    }
    case 'base': {
      const kind = STAGE_SCHEMAS[t.text];
      if (kind) return out(describeKind(t.text));
      return out(describeDecl(p, t.text));
    }
    case 'callee': {
      const where = role.frame.bracket === 'top' ? role.head.kind : 'judge';
      const c = constructorsFor(where as Head['kind'])[t.text] ?? JUDGE_SOURCES[t.text];
      if (!c) return undefined;
      const args = c.args.map((a) => a.name).join(', ');
      const params = Object.keys(c.params);
      return out(`**${c.name}**(${args}) → ${c.produces === 'text' ? 'dataset' : c.produces}\n\n${c.doc}${params.length ? `\n\nparameters: ${params.join(', ')}` : ''}`);
    }
    case 'tparam':
    case 'param': {
      const tpl = [...p.decls.values()].find((d) => d.decl.kind === 'template' && d.decl.name.name === role.head.name)?.decl as A.TemplateDecl | undefined;
      const param = tpl?.params.find((q) => q.name.name === t.text);
      const def = param?.default ? ` = ${text.slice(param.default.span.start.offset, param.default.span.end.offset)}` : ' (no default: every use must give it)';
      return out(`template parameter **${t.text}**${param ? def : ''} of \`${role.head.name}\``);
    }
    case 'argName': {
      if (role.template) {
        const info = p.decls.get(role.template);
        if (info?.decl.kind !== 'template') return undefined;
        const param = info.decl.params.find((q) => q.name.name === t.text);
        if (!param) return undefined;
        const ptext = fileText(p, info.file);
        const def = param.default ? ` = ${ptext.slice(param.default.span.start.offset, param.default.span.end.offset)}` : ' (no default)';
        return out(`template parameter **${t.text}**${def}\n\n\`${templateSignature(info.decl, ptext)}\``);
      }
      const c = role.callee ? JUDGE_SOURCES[role.callee] : undefined;
      const arg = c?.args.find((a) => a.name === t.text);
      return out(arg && describeSpec(arg.name, arg.spec));
    }
    case 'import':
      return out(`imports \`${resolve(dirname(file), role.path)}\``);
    default:
      return undefined;
  }
}

function describeKind(kind: string): string {
  const k = STAGE_SCHEMAS[kind];
  const outs = Object.entries(k.outputs).map(([o, t]) => `\`${o}\`: ${t}`);
  return `stage kind **${kind}**\n\n${k.doc}\n\noutputs: ${outs.join(', ')}\n\nparameters: ${Object.keys(k.params).join(', ')}`;
}

function declHeader(text: string, d: A.Decl): string {
  const firstLine = text.slice(d.span.start.offset, d.span.end.offset).split('\n')[0];
  return firstLine.replace(/\s*\{\s*$/, '').trim();
}

/** Markdown for a declared name: its header, what it produces, its comment. */
export function describeDecl(p: Program, name: string): string | undefined {
  const info = p.decls.get(name);
  if (!info) return undefined;
  const d = info.decl;
  const text = fileText(p, info.file);
  const doc = leadingComments(text, d.span.start.offset);
  const lines: string[] = [];
  if (d.kind === 'template') {
    lines.push('```rlhf', templateSignature(d, text), '```');
    const kind = kindOf(p, d.base.name);
    if (kind) lines.push(`stage kind: \`${kind}\``);
  } else {
    lines.push('```rlhf', declHeader(text, d), '```');
    const arts = artifactsOf(p, d);
    if (d.kind === 'stage') {
      const kind = kindOf(p, d.base.name);
      lines.push(`stage of kind \`${kind ?? '?'}\`; outputs: ${Object.entries(arts).map(([o, t]) => `\`${name}.${o}\` (${t})`).join(', ') || 'none'}`);
    } else {
      const t = Object.values(arts)[0];
      lines.push(`${d.kind}${t ? `: **${t}**` : ''}`);
    }
  }
  if (doc) lines.push('', doc);
  if (info.file !== p.main) lines.push('', `declared in \`${info.file}\``);
  return lines.join('\n');
}

// ---- completion -----------------------------------------------------------------------------------

export function complete(p: Program, file: string, offset: number): Completion[] {
  const text = fileText(p, file);
  const s = scanText(text);
  let start = offset;
  while (start > 0 && /[A-Za-z0-9_]/.test(text[start - 1])) start--;
  let j = -1;
  for (let i = 0; i < s.toks.length && s.toks[i].end <= start; i++) j = i;
  const P = j >= 0 ? s.toks[j] : undefined;
  const before = j >= 1 ? s.toks[j - 1] : undefined;
  const F: Frame = j >= 0 ? s.after[j] : s.top;
  const H = j >= 0 ? s.headAfter[j] : undefined;
  const spaced = (items: Completion[]) => (P && P.end === offset && P.type === 'Colon' ? items.map((c) => ({ ...c, insert: ` ${c.insert ?? c.label}` })) : items);

  if (P?.type === 'Dot' && before?.type === 'Identifier') return outputs(p, before.text);
  if (F.bracket === 'top') {
    if (P?.type === 'Colon' && H && (H.kind === 'stage' || H.kind === 'template')) return spaced(stageBases(p, H));
    if (P?.type === 'Equals' && H && (H.kind === 'dataset' || H.kind === 'tokenizer' || H.kind === 'model')) return constructors(H.kind);
    if (P && (['Dataset', 'Tokenizer', 'Model', 'Stage', 'Template', 'Import', 'Equals', 'Colon'].includes(P.type) || (H && !H.name))) return [];
    return topLevel();
  }
  if (F.bracket === '{') {
    if (P?.type === 'Colon' && before) return spaced(values(p, paramsAt(p, F.head, F.path)?.[before.text], F.head));
    const params = paramsAt(p, F.head, F.path) ?? {};
    return Object.entries(params)
      .filter(([k]) => !F.keys.has(k))
      .map(([k, spec]) => keyItem(k, spec));
  }
  if (F.bracket === '[') {
    if (P?.type === 'LBracket' || P?.type === 'Comma') return values(p, paramsAt(p, F.head, F.path)?.[F.key ?? ''], F.head, true);
    return [];
  }
  if (F.bracket === '(' && F.paren === 'baseArgs' && (P?.type === 'LParen' || P?.type === 'Comma')) {
    const base = F.head?.base;
    const info = base ? p.decls.get(base) : undefined;
    if (info?.decl.kind !== 'template') return [];
    const ptext = fileText(p, info.file);
    return info.decl.params.map((q) => ({
      label: q.name.name,
      kind: 'property',
      detail: q.default ? `= ${ptext.slice(q.default.span.start.offset, q.default.span.end.offset)}` : 'required',
      insert: `${q.name.name}: $0`,
      snippet: true,
    }));
  }
  if (F.bracket === '(' && F.paren === 'sourceArgs' && P?.type === 'LParen' && F.head) {
    const c = constructorsFor(F.head.kind)[F.head.callee ?? ''];
    const arg = c?.args[0];
    if (arg?.spec.type === 'string' && arg.spec.enum) return arg.spec.enum.map((e) => ({ label: `"${e}"`, kind: 'enum' }));
    if (arg) return values(p, arg.spec, F.head);
  }
  return [];
}

function topLevel(): Completion[] {
  const snippets: Record<string, string> = {
    import: 'import "${1:lib/recipes.rlhf}"',
    dataset: 'dataset ${1:name} = ${2:corpus}("${3:sotu}")',
    tokenizer: 'tokenizer ${1:name} = ${2:bpe}(${3:data}) { vocab_size: ${4:512} }',
    model: 'model ${1:name} = gpt { layers: ${2:2}  heads: ${3:4}  width: ${4:128}  context: ${5:64} }',
    stage: 'stage ${1:name}: ${2:sft} {\n\t$0\n}',
    template: 'template ${1:name}(${2:r = 8}): ${3:sft} {\n\t$0\n}',
  };
  const kws: Completion[] = KEYWORDS.map((k) => ({ label: k, kind: 'keyword', insert: snippets[k], snippet: true }));
  const settings: Completion[] = Object.entries(SETTINGS).map(([k, spec]) => ({
    label: k,
    kind: 'property',
    detail: 'setting',
    doc: describeSpec(k, spec),
    insert: spec.type === 'block' ? `${k} {\n\t$0\n}` : `${k} = $0`,
    snippet: true,
  }));
  return [...kws, ...settings];
}

function stageBases(p: Program, H: Head): Completion[] {
  const kinds: Completion[] = STAGE_KINDS.map((k) => ({ label: k, kind: 'kind', detail: 'stage kind', doc: STAGE_SCHEMAS[k].doc, sort: `0${k}` }));
  const templates: Completion[] = [...p.decls.values()]
    .filter((d) => d.decl.kind === 'template' && d.decl.name.name !== H.name)
    .map((d) => {
      const t = d.decl as A.TemplateDecl;
      const ptext = fileText(p, d.file);
      const required = t.params.filter((q) => !q.default);
      return {
        label: t.name.name,
        kind: 'template',
        detail: templateSignature(t, ptext),
        doc: leadingComments(ptext, t.span.start.offset) || undefined,
        insert: required.length ? `${t.name.name}(${required.map((q, n) => `${q.name.name}: $${n + 1}`).join(', ')})` : t.name.name,
        snippet: true,
        sort: `1${t.name.name}`,
      };
    });
  return [...kinds, ...templates];
}

function constructors(kind: 'dataset' | 'tokenizer' | 'model'): Completion[] {
  return Object.values(constructorsFor(kind)).map((c) => ({
    label: c.name,
    kind: 'function',
    detail: `${c.name}(${c.args.map((a) => a.name).join(', ')})`,
    doc: c.doc,
    insert: c.args.length ? `${c.name}(${c.args[0].spec.type === 'input' ? '$1' : '"$1"'})` : c.name,
    snippet: true,
  }));
}

function keyItem(k: string, spec: ParamSpec): Completion {
  const block = spec.type === 'block';
  return {
    label: k,
    kind: block ? 'block' : 'property',
    detail: block ? 'block' : spec.type === 'input' ? `→ ${spec.accepts.join(' | ')}` : spec.type,
    doc: describeSpec(k, spec),
    insert: block ? `${k} { $0 }` : `${k}: $0`,
    snippet: true,
    sort: `${spec.required ? 0 : 1}${k}`,
  };
}

function outputs(p: Program, stage: string): Completion[] {
  const info = p.decls.get(stage);
  if (!info || info.decl.kind !== 'stage') return [];
  return Object.entries(artifactsOf(p, info.decl)).map(([o, t]) => ({ label: o, kind: 'reference', detail: t }));
}

/** What may stand as the value of a parameter: declarations of the right artifact type, enum values, booleans, the default. */
function values(p: Program, spec: ParamSpec | undefined, head: Head | undefined, inList = false): Completion[] {
  if (!spec) return [];
  switch (spec.type) {
    case 'input': {
      const out: Completion[] = [];
      for (const [name, info] of p.decls) {
        if (info.decl.kind === 'template' || (head?.kind === 'stage' && name === head.name)) continue;
        for (const [o, t] of Object.entries(artifactsOf(p, info.decl))) {
          if (!spec.accepts.includes(t)) continue;
          const label = info.decl.kind === 'stage' ? `${name}.${o}` : name;
          out.push({ label, kind: 'reference', detail: t, doc: describeDecl(p, name) });
        }
      }
      if (spec.accepts.includes('judge')) {
        for (const c of Object.values(JUDGE_SOURCES)) {
          out.push({ label: `${c.name}()`, kind: 'function', detail: 'judge', doc: c.doc, insert: c.args.length ? `${c.name}($1)` : `${c.name}()`, snippet: true });
        }
      }
      if (spec.many && !inList) return out.map((c) => ({ ...c, label: `[${c.label}]`, insert: `[${c.insert ?? c.label}]` }));
      return out;
    }
    case 'string':
      if (spec.enum) return spec.enum.map((e) => ({ label: e, kind: 'enum', detail: e === spec.default ? 'default' : undefined }));
      return spec.default !== undefined ? [{ label: JSON.stringify(spec.default), kind: 'value', detail: 'default' }] : [];
    case 'list':
      if (spec.enum && inList) return spec.enum.map((e) => ({ label: `"${e}"`, kind: 'enum' }));
      return spec.default !== undefined ? [{ label: JSON.stringify(spec.default), kind: 'value', detail: 'default' }] : [];
    case 'bool':
      return [true, false].map((b) => ({ label: String(b), kind: 'value', detail: b === spec.default ? 'default' : undefined }));
    case 'int':
    case 'float':
      return spec.default !== undefined ? [{ label: String(spec.default), kind: 'value', detail: 'default' }] : [];
    default:
      return [];
  }
}

// ---- definition -----------------------------------------------------------------------------------

export function definition(p: Program, file: string, offset: number): Place | undefined {
  const text = fileText(p, file);
  const s = scanText(text);
  const i = tokenAt(s, offset);
  if (i < 0) return undefined;
  const t = s.toks[i];
  const role = s.roles[i];
  const declPlace = (name: string): Place | undefined => {
    const info = p.decls.get(name);
    return info && { file: info.file, start: info.decl.name.span.start.offset, end: info.decl.name.span.end.offset };
  };
  switch (role.r) {
    case 'ref':
    case 'base':
    case 'declName':
      return role.r === 'declName' && role.head.kind === 'setting' ? undefined : declPlace(t.text);
    case 'output':
      return declPlace(role.stage);
    case 'tparam':
    case 'param':
      return paramPlace(p, role.head.name, t.text);
    case 'argName':
      return role.template ? paramPlace(p, role.template, t.text) : undefined;
    case 'import':
      return { file: resolve(dirname(file), role.path), start: 0, end: 0 };
    default:
      return undefined;
  }
}

function paramPlace(p: Program, template: string | undefined, param: string): Place | undefined {
  const info = template ? p.decls.get(template) : undefined;
  if (info?.decl.kind !== 'template') return undefined;
  const q = info.decl.params.find((x) => x.name.name === param);
  return q && { file: info.file, start: q.name.span.start.offset, end: q.name.span.end.offset };
}

// ---- references and rename ---------------------------------------------------------------------------

/** What a rename at a position would rename: a declaration, or a template's parameter. */
export type Target = { what: 'decl'; name: string; file: string } | { what: 'param'; template: string; name: string; file: string };

export function targetAt(p: Program, file: string, offset: number): { target: Target; start: number; end: number } | { error: string } | undefined {
  const s = scanText(fileText(p, file));
  const i = tokenAt(s, offset);
  if (i < 0) return undefined;
  const t = s.toks[i];
  const role = s.roles[i];
  const span = { start: t.start, end: t.end };
  switch (role.r) {
    case 'declName':
    case 'ref':
    case 'base': {
      if (role.r === 'declName' && role.head.kind === 'setting') return { error: `'${t.text}' is a setting; its name is part of the language` };
      if (role.r === 'base' && STAGE_SCHEMAS[t.text]) return { error: `'${t.text}' is a stage kind; only declarations can be renamed` };
      const info = p.decls.get(t.text);
      if (!info) return { error: `'${t.text}' is not declared` };
      return { target: { what: 'decl', name: t.text, file: info.file }, ...span };
    }
    case 'tparam':
    case 'param':
    case 'argName': {
      const template = role.r === 'argName' ? role.template : role.head.name;
      const info = template ? p.decls.get(template) : undefined;
      if (!template || info?.decl.kind !== 'template') return { error: 'only declarations and template parameters can be renamed' };
      return { target: { what: 'param', template, name: t.text, file: info.file }, ...span };
    }
    case 'key':
      return { error: `'${t.text}' is a parameter of the schema; only declarations and template parameters can be renamed` };
    default:
      return { error: 'only declarations and template parameters can be renamed' };
  }
}

/** Every occurrence of a target in the files of a program (which must contain the target's declaration). */
export function occurrences(p: Program, target: Target): Place[] {
  const decl = p.decls.get(target.what === 'decl' ? target.name : target.template);
  if (!decl || decl.file !== target.file) return [];
  const out: Place[] = [];
  for (const [file, { text }] of p.files) {
    const s: Scanned = scanText(text);
    s.toks.forEach((t, i) => {
      const role = s.roles[i];
      let hit = false;
      if (target.what === 'decl') {
        if (t.text !== target.name) return;
        hit = (role.r === 'declName' && role.head.kind !== 'setting' && file === target.file) || role.r === 'ref' || role.r === 'base';
      } else {
        if (t.text !== target.name) return;
        hit =
          ((role.r === 'param' || role.r === 'tparam') && role.head.name === target.template && file === target.file) ||
          (role.r === 'argName' && role.template === target.template);
      }
      if (hit) out.push({ file, start: t.start, end: t.end });
    });
  }
  return out;
}

export function checkNewName(p: Program, target: Target, newName: string): string | undefined {
  if (!NAME.test(newName)) return `'${newName}' is not a name: use letters, digits and _, not starting with a digit`;
  if (KEYWORDS.includes(newName) || newName === 'true' || newName === 'false') return `'${newName}' is a keyword`;
  if (target.what === 'decl') {
    if (p.decls.has(newName) && newName !== target.name) return `'${newName}' is already declared`;
    if (p.decls.get(target.name)?.decl.kind === 'template' && STAGE_SCHEMAS[newName]) return `'${newName}' is a stage kind`;
  } else {
    const t = p.decls.get(target.template)?.decl as A.TemplateDecl | undefined;
    if (t?.params.some((q) => q.name.name === newName)) return `template '${target.template}' already has a parameter '${newName}'`;
  }
  return undefined;
}

// ---- document symbols ------------------------------------------------------------------------------

export interface Symbol {
  name: string;
  detail: string;
  kind: 'file' | 'dataset' | 'tokenizer' | 'model' | 'stage' | 'template' | 'setting' | 'field' | 'block';
  start: number;
  end: number;
  nameStart: number;
  nameEnd: number;
  children: Symbol[];
}

export function symbols(text: string, file: string): Symbol[] {
  const { ast } = parse(text, file);
  const entries = (b: A.Block | undefined): Symbol[] =>
    (b?.entries ?? []).map((e) => ({
      name: e.key.name,
      detail: e.kind === 'field' ? text.slice(e.value.span.start.offset, e.value.span.end.offset) : '',
      kind: e.kind === 'block' ? 'block' : 'field',
      start: e.span.start.offset,
      end: e.span.end.offset,
      nameStart: e.key.span.start.offset,
      nameEnd: e.key.span.end.offset,
      children: e.kind === 'block' ? entries(e.body) : [],
    }));
  const out: Symbol[] = ast.imports.map((i) => ({
    name: i.path.value,
    detail: 'import',
    kind: 'file',
    start: i.span.start.offset,
    end: i.span.end.offset,
    nameStart: i.path.span.start.offset,
    nameEnd: i.path.span.end.offset,
    children: [],
  }));
  for (const d of ast.decls) {
    if (!d.name.name) continue;
    let detail = '';
    if (d.kind === 'stage') detail = d.base.name;
    else if (d.kind === 'template') detail = templateSignature(d, text).replace(/^template /, '');
    else if (d.kind === 'setting') detail = d.value ? text.slice(d.value.span.start.offset, d.value.span.end.offset) : '';
    else detail = text.slice(d.source.span.start.offset, d.source.span.end.offset);
    out.push({
      name: d.name.name,
      detail,
      kind: d.kind,
      start: d.span.start.offset,
      end: d.span.end.offset,
      nameStart: d.name.span.start.offset,
      nameEnd: d.name.span.end.offset,
      children: entries(d.kind === 'setting' ? d.body : d.body),
    });
  }
  return out.sort((a, b) => a.start - b.start);
}

export type { DeclInfo };
