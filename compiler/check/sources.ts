// Source declarations and constructor calls — `dataset d = jsonl("qa.jsonl") { ... }`,
// `tokenizer t = bpe(d)`, `model m = gpt { ... }`, an inline judge `vader()` — against their
// constructor schemas: arguments (positional or named), the body, local files, and the facts later
// checks need (dataset kind, tokenizer vocabulary, model architecture).

import { existsSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import type * as A from '../../grammar/ast.ts';
import { diag, withSuggestion } from '../../core/diagnostics.ts';
import { DATASET_KINDS, type ArtifactType, type ConstructorSchema, type ResolvedParams, type Value } from '../../core/schema.ts';
import { evaluate, type RVal } from '../expressions.ts';
import type { SourceDecl, Tree } from '../resolve.ts';
import { DATASET_SOURCES, MODEL_SOURCES, TOKENIZER_SOURCES, datasetKindOf } from '../../runtime/sources/index.ts';
import { bindInput } from './bind.ts';
import { emptyResult, OUTPUT_OF_SOURCE, type CallArg, type CheckContext, type CheckedNode, type ConstructorCall } from './context.ts';
import { checkLocalFile, fileHash, localPath, readModelFacts } from './files.ts';
import { reportRules } from './rules.ts';
import { blockTree, checkTree } from './tree.ts';
import { scalar } from './values.ts';

export function checkConstructor(
  ctx: CheckContext,
  ...[category, name, schema, args, body, span, related, file]: ConstructorCall
): CheckedNode | undefined {
  const { ds } = ctx;
  const id = `${category}:${name}`;
  const existing = ctx.nodes.get(id);
  if (existing) return existing;
  const out = emptyResult();
  const what = `${category === 'judge' ? 'judge' : category} '${name}' (${schema.name})`;
  const params: ResolvedParams = {};
  let ok = true;
  // Arguments: positional in order, or named.
  const given = new Map<string, { value: RVal; span: A.Span }>();
  let pos = 0;
  for (const a of args) {
    const argName = a.name?.name ?? schema.args[pos++]?.name;
    if (!argName || !schema.args.some((s) => s.name === argName)) {
      const msg = a.name
        ? withSuggestion(`${schema.name}() has no argument '${a.name.name}'`, a.name.name, schema.args.map((s) => s.name))
        : `${schema.name}() takes ${schema.args.length} argument(s); this one is extra`;
      ds.push(diag('RLHF3003', msg, a.span, { related }));
      ok = false;
      continue;
    }
    given.set(argName, { value: a.value, span: a.span });
  }
  for (const a of schema.args) {
    const g = given.get(a.name);
    if (!g) {
      if (a.spec.required) {
        ds.push(diag('RLHF3004', `${schema.name}() needs its '${a.name}' argument: ${a.spec.doc}`, span, { related }));
        ok = false;
      } else if (a.spec.type !== 'input' && a.spec.type !== 'block') {
        params[a.name] = (a.spec.default as Value) ?? null;
        out.defaults.push(a.name);
      }
      continue;
    }
    if (a.spec.type === 'input') {
      const b = bindInput(ctx, a.spec, g.value, a.name, { span: g.value.span, related }, name, file);
      if (b) {
        out.inputs[a.name] = b.b;
        out.inputNodes[a.name] = b.node;
      } else ok = false;
      continue;
    }
    const c = scalar(ds, a.spec, g.value, a.name, { span: g.value.span, related });
    if (c === undefined) ok = false;
    else params[a.name] = c;
  }
  Object.assign(params, checkTree(ctx, schema.params, body ?? new Map(), '', out, name, span, file, what));
  // Local files are checked now, not discovered mid-run; their content is part of the hash.
  let contentHash: string | undefined;
  const pathArg = schema.args.find((a) => a.name === 'path' || a.name === 'ref');
  if (pathArg) {
    const h = checkLocalFile(ctx, params, pathArg.name as 'path' | 'ref', category, file, given.get(pathArg.name)?.span ?? span, related);
    if (h === false) ok = false;
    else contentHash = h;
  }
  const node: CheckedNode = {
    id,
    category,
    name,
    kind: schema.name,
    templates: [],
    span,
    params,
    defaults: out.defaults,
    inputs: out.inputs,
    outputs: { [OUTPUT_OF_SOURCE[category]]: schema.produces },
    contentHash,
    order: ctx.order++,
  };
  if (schema.rules && ok) reportRules(ds, schema.rules(params), out.spans, span);
  // Facts.
  if (category === 'dataset') {
    const kind = datasetKindOf(schema, params);
    const kinds = schema.facts?.(params).kinds;
    if (!kind) {
      ds.push(diag('RLHF3004', `${what} needs 'kind' (${DATASET_KINDS.slice(0, -1).join(', ')} or ${DATASET_KINDS[DATASET_KINDS.length - 1]})`, span));
      ok = false;
    } else if (kinds && !kinds.includes(kind)) {
      ds.push(diag('RLHF3009', `${schema.name} ${JSON.stringify(params[schema.args[0].name])} cannot be read as '${kind}'`, out.spans.get('kind')?.span ?? span, { notes: [`it can be: ${kinds.join(', ')}`] }));
      ok = false;
    }
    node.datasetKind = kind;
    node.outputs = { data: (kind ?? 'text') as ArtifactType };
  } else {
    // The constructor's own compile-time facts (a tokenizer's vocabulary, a fresh model's architecture).
    const f = schema.facts?.(params);
    if (category === 'tokenizer') node.vocab_size = f?.vocab_size;
    if (f?.model) node.model = f.model;
    else if (schema.modelFolder && ok) {
      // A local model folder: its config.json gives the facts, its content is hashed. A Hub id (`hf`) is kept as written.
      const { arg, hubId } = schema.modelFolder;
      const at = given.get(arg)?.span ?? span;
      if (!hubId) node.model = readModelFacts(ctx, resolvePath(ctx.mainDir, params[arg] as string), at);
      else if (typeof params[arg] === 'string') {
        // Recorded relative to the main spec (like `load`) and hashed.
        const { abs, rel } = localPath(ctx, params[arg], file);
        if (existsSync(join(abs, 'config.json'))) {
          params[arg] = rel.startsWith('.') ? rel : `./${rel}`;
          node.contentHash = fileHash(abs);
          node.model = readModelFacts(ctx, abs, at);
        }
      }
    }
  }
  if (!ok && category !== 'dataset') return undefined;
  ctx.nodes.set(id, node);
  return ok ? node : undefined;
}

const SOURCE_TABLES: Record<string, Record<string, ConstructorSchema>> = { dataset: DATASET_SOURCES, tokenizer: TOKENIZER_SOURCES, model: MODEL_SOURCES };

/** A `dataset|tokenizer|model name = constructor(...) { ... }` declaration (checked once). */
export function checkSource(ctx: CheckContext, d: SourceDecl): CheckedNode | undefined {
  const { ds } = ctx;
  if (ctx.sourceDone.has(d)) return ctx.sourceDone.get(d);
  ctx.sourceDone.set(d, undefined);
  const table = SOURCE_TABLES[d.kind];
  const callee = d.source.kind === 'call' ? d.source.callee : d.source.path[0];
  const schema = table[callee.name];
  if (!schema || (d.source.kind === 'ref' && d.source.path.length > 1)) {
    const all = Object.keys(table);
    ds.push(
      diag('RLHF2010', withSuggestion(`unknown ${d.kind} source '${callee.name}'`, callee.name, all), callee.span, {
        notes: [`${d.kind} sources: ${all.map((n) => (table[n].args.length ? `${n}(…)` : n)).join(', ')}`],
      }),
    );
    return undefined;
  }
  const args: CallArg[] = [];
  if (d.source.kind === 'call') {
    for (const a of d.source.args) {
      const v = evaluate(a.value, null, ds);
      if (v) args.push({ name: a.name, value: v, span: a.span });
    }
  }
  const body: Tree = d.body ? blockTree(ds, d.body) : new Map();
  const node = ctx.construct(d.kind, d.name.name, schema, args, body, d.name.span, [], d.span.file);
  if (node) node.span = d.name.span;
  ctx.sourceDone.set(d, node);
  return node;
}
