// Resolve phase: one symbol table across the main file and its imports; stages' templates
// instantiated into parameter trees whose expressions remember the environment (template
// parameters) they must be evaluated in, and where they came from for diagnostics.

import type * as A from '../grammar/ast.ts';
import { diag, withSuggestion, type Diagnostic, type Related } from '../core/diagnostics.ts';
import { STAGE_SCHEMAS } from '../runtime/stages/index.ts';

/** Template parameters in scope: name → the argument expression and the scope it evaluates in. */
export interface Env {
  vars: Map<string, { expr: A.Expr; env: Env | null; span: A.Span }>;
  template: A.TemplateDecl;
  /** Where the template was used (a stage, or another template's base). */
  useSpan: A.Span;
  parent: Env | null;
}

export interface BoundExpr {
  expr: A.Expr;
  env: Env | null;
}

export type TreeItem = { kind: 'field'; key: A.Ident; value: BoundExpr; span: A.Span } | { kind: 'block'; key: A.Ident; tree: Tree; span: A.Span };
export type Tree = Map<string, TreeItem>;

export type SourceDecl = A.DatasetDecl | A.TokenizerDecl | A.ModelDecl;

export interface ResolvedStage {
  decl: A.StageDecl;
  kind: string;
  /** Template chain, outermost (the one the stage names) first. */
  templates: string[];
  tree: Tree;
}

export interface Resolved {
  settings: A.SettingDecl[];
  sources: SourceDecl[];
  stages: ResolvedStage[];
  /** Every declared name → its declaration, for reference resolution in check. */
  symbols: Map<string, A.Decl>;
  diagnostics: Diagnostic[];
}

/** Related spans that show the chain of template uses an expression came through. */
export function envTrail(env: Env | null): Related[] {
  const out: Related[] = [];
  for (let e = env; e; e = e.parent) out.push({ span: e.useSpan, message: `in template '${e.template.name.name}' used here` });
  return out;
}

export function resolve(files: A.SourceFile[]): Resolved {
  const diagnostics: Diagnostic[] = [];
  const symbols = new Map<string, A.Decl>();
  const settings: A.SettingDecl[] = [];
  const settingNames = new Map<string, A.SettingDecl>();
  for (const f of files) {
    for (const d of f.decls) {
      if (d.kind === 'setting') {
        const prev = settingNames.get(d.name.name);
        if (prev) diagnostics.push(diag('RLHF2004', `setting '${d.name.name}' is set twice`, d.name.span, { related: [{ span: prev.name.span, message: 'first set here' }] }));
        else {
          settingNames.set(d.name.name, d);
          settings.push(d);
        }
        continue;
      }
      const prev = symbols.get(d.name.name);
      if (prev) {
        diagnostics.push(
          diag('RLHF2004', `'${d.name.name}' is already declared (as a ${prev.kind})`, d.name.span, {
            related: [{ span: prev.name.span, message: 'first declared here' }],
          }),
        );
        continue;
      }
      if (d.kind === 'stage' || d.kind === 'template') {
        // A template or stage named like a stage kind would shadow it and confuse readers.
        if (d.kind === 'template' && STAGE_SCHEMAS[d.name.name]) {
          diagnostics.push(diag('RLHF2004', `template '${d.name.name}' has the name of a stage kind; choose another name`, d.name.span));
          continue;
        }
      }
      symbols.set(d.name.name, d);
    }
  }

  const sources: SourceDecl[] = [];
  const stages: ResolvedStage[] = [];
  for (const f of files) {
    for (const d of f.decls) {
      if (symbols.get(d.name.name) !== d) continue;
      if (d.kind === 'dataset' || d.kind === 'tokenizer' || d.kind === 'model') sources.push(d);
      else if (d.kind === 'stage') {
        const r = instantiate(d.base, d.args, d.base.span, d.body, null, symbols, diagnostics, []);
        if (r) stages.push({ decl: d, kind: r.kind, templates: r.templates, tree: r.tree });
      }
    }
  }
  return { settings, sources, stages, symbols, diagnostics };
}

/** Build a tree from a block's entries, evaluated in `env`. Duplicate keys are RLHF2008. */
export function treeOf(block: A.Block, env: Env | null, diagnostics: Diagnostic[]): Tree {
  const tree: Tree = new Map();
  for (const e of block.entries) {
    const prev = tree.get(e.key.name);
    if (prev) {
      diagnostics.push(
        diag('RLHF2008', `'${e.key.name}' is given twice in this block`, e.key.span, {
          related: [{ span: prev.key.span, message: 'first given here' }, ...envTrail(env)],
        }),
      );
      continue;
    }
    if (e.kind === 'field') tree.set(e.key.name, { kind: 'field', key: e.key, value: { expr: e.value, env }, span: e.span });
    else tree.set(e.key.name, { kind: 'block', key: e.key, tree: treeOf(e.body, env, diagnostics), span: e.span });
  }
  return tree;
}

/** `over` wins; nested blocks merge key by key. */
export function mergeTrees(base: Tree, over: Tree): Tree {
  const out: Tree = new Map(base);
  for (const [k, v] of over) {
    const b = out.get(k);
    if (b && b.kind === 'block' && v.kind === 'block') out.set(k, { ...v, tree: mergeTrees(b.tree, v.tree) });
    else out.set(k, v);
  }
  return out;
}

/**
 * Resolve `base(args) { body }`: a stage kind, or a template (recursively). `body` is evaluated in
 * `bodyEnv` (null for a stage's own block). Returns the kind, template chain and merged tree.
 */
function instantiate(
  base: A.Ident,
  args: A.Arg[] | undefined,
  useSpan: A.Span,
  body: A.Block,
  bodyEnv: Env | null,
  symbols: Map<string, A.Decl>,
  diagnostics: Diagnostic[],
  chain: string[],
): { kind: string; templates: string[]; tree: Tree } | undefined {
  const own = treeOf(body, bodyEnv, diagnostics);
  if (STAGE_SCHEMAS[base.name]) {
    if (args) {
      diagnostics.push(
        diag('RLHF2006', `'${base.name}' is a stage kind and takes no arguments; write its parameters in the block`, args[0]?.span ?? base.span, {
          related: envTrail(bodyEnv),
        }),
      );
    }
    return { kind: base.name, templates: [], tree: own };
  }
  const t = symbols.get(base.name);
  if (!t || t.kind !== 'template') {
    const candidates = [...Object.keys(STAGE_SCHEMAS), ...[...symbols.values()].filter((d) => d.kind === 'template').map((d) => d.name.name)];
    const what = t ? `'${base.name}' is a ${t.kind}, not a stage kind or template` : `unknown stage kind or template '${base.name}'`;
    diagnostics.push(
      diag('RLHF2005', withSuggestion(what, base.name, candidates), base.span, {
        related: envTrail(bodyEnv),
        notes: [`stage kinds: ${Object.keys(STAGE_SCHEMAS).join(', ')}`],
      }),
    );
    return undefined;
  }
  if (chain.includes(t.name.name)) {
    diagnostics.push(diag('RLHF2009', `template recursion: ${[...chain, t.name.name].join(' → ')}`, base.span, { related: envTrail(bodyEnv) }));
    return undefined;
  }
  // Bind arguments to the template's parameters.
  const env: Env = { vars: new Map(), template: t, useSpan, parent: bodyEnv };
  const params = new Map(t.params.map((p) => [p.name.name, p]));
  let positional = 0;
  let ok = true;
  for (const a of args ?? []) {
    let name: string;
    if (a.name) {
      if (!params.has(a.name.name)) {
        diagnostics.push(
          diag('RLHF2006', withSuggestion(`template '${t.name.name}' has no parameter '${a.name.name}'`, a.name.name, params.keys()), a.name.span, {
            related: [{ span: t.name.span, message: `template '${t.name.name}' declared here` }, ...envTrail(bodyEnv)],
            notes: [`parameters: ${t.params.map((p) => p.name.name).join(', ') || '(none)'}`],
          }),
        );
        ok = false;
        continue;
      }
      name = a.name.name;
    } else {
      const p = t.params[positional++];
      if (!p) {
        diagnostics.push(
          diag('RLHF2006', `template '${t.name.name}' takes ${t.params.length} parameter(s); this argument is one too many`, a.span, {
            related: [{ span: t.name.span, message: `template '${t.name.name}' declared here` }],
          }),
        );
        ok = false;
        continue;
      }
      name = p.name.name;
    }
    if (env.vars.has(name)) {
      diagnostics.push(diag('RLHF2008', `argument '${name}' is given twice`, a.span, { related: envTrail(bodyEnv) }));
      ok = false;
      continue;
    }
    env.vars.set(name, { expr: a.value, env: bodyEnv, span: a.span });
  }
  for (const p of t.params) {
    if (env.vars.has(p.name.name)) continue;
    if (p.default) env.vars.set(p.name.name, { expr: p.default, env: null, span: p.span });
    else {
      diagnostics.push(
        diag('RLHF2007', `template '${t.name.name}' needs an argument for '${p.name.name}'`, args?.[0]?.span ?? base.span, {
          related: [{ span: p.span, message: `parameter '${p.name.name}' has no default` }, ...envTrail(bodyEnv)],
        }),
      );
      ok = false;
    }
  }
  if (!ok) return undefined;
  const inner = instantiate(t.base, t.baseArgs, t.base.span, t.body, env, symbols, diagnostics, [...chain, t.name.name]);
  if (!inner) return undefined;
  return { kind: inner.kind, templates: [t.name.name, ...inner.templates], tree: mergeTrees(inner.tree, own) };
}
