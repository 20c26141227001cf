// Check phase: every declaration's parameters against its schema (types, ranges, enums, unknown
// and missing parameters), references bound to declarations and stage outputs with their
// artifact types, architecture facts carried along the graph, and each schema's cross-field
// rules. Produces typed nodes (plain data) for the plan phase.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve as resolvePath } from 'node:path';
import type * as A from './ast.ts';
import { diag, UserError, withSuggestion, type Diagnostic, type Related } from './diagnostics.ts';
import { LIMITS, readBytesSync, readJsonSync } from '../runtime/validate/files.ts';
import { ModelFactsSchema } from '../runtime/validate/schemas.ts';
import { describeRVal, evaluate, type RVal } from './eval.ts';
import { envTrail, type Resolved, type ResolvedStage, type SourceDecl, type Tree, type TreeItem } from './resolve.ts';
import { checkUserFunction } from './hooks.ts';
import { STAGE_SCHEMAS } from '../runtime/stages/index.ts';
import { CORPUS_KINDS, DATASET_SOURCES, JUDGE_SOURCES, MODEL_SOURCES, SETTINGS, TOKENIZER_SOURCES, datasetKindOf } from '../runtime/sources.ts';
import { withDefaults, type ArtifactType, type ConstructorSchema, type InputFacts, type ModelFacts, type ParamSpec, type ResolvedParams, type Value } from '../runtime/stages/schema.ts';
import type { NodeCategory } from './plan-types.ts';

export interface CheckedInput {
  node: string;
  output: string;
  type: ArtifactType;
}

export interface CheckedNode {
  id: string;
  category: NodeCategory;
  name: string;
  kind: string;
  templates: string[];
  span: A.Span;
  params: ResolvedParams;
  defaults: string[];
  inputs: Record<string, CheckedInput>;
  outputs: Record<string, ArtifactType>;
  datasetKind?: string;
  model?: ModelFacts;
  /** Tokenizer vocabulary when known at compile time. */
  vocab?: number;
  /** Hashes of local files the node reads (data files, hooks, model folders): part of the cache key. */
  contentHash?: string;
  /** Order of declaration, for stable plan order. */
  order: number;
}

export interface Checked {
  nodes: CheckedNode[];
  settings: ResolvedParams;
  diagnostics: Diagnostic[];
}

/** Names people reach for out of habit (TRL/Transformers spellings) → ours. */
const ALIASES: Record<string, string> = { learning_rate: 'lr', lr_scheduler_type: 'schedule', max_grad_norm: 'grad_clip', lora_alpha: 'alpha', lora_dropout: 'dropout', target_modules: 'targets' };

const OUTPUT_OF_SOURCE: Record<string, string> = { dataset: 'data', tokenizer: 'tokenizer', model: 'model', judge: 'judge' };

/** A value's location for diagnostics, with the template trail when it came from a template. */
type Where = { span: A.Span; related: Related[] };

export function check(res: Resolved, mainPath: string): Checked {
  const ds: Diagnostic[] = [];
  const mainDir = dirname(resolvePath(mainPath));
  const nodes = new Map<string, CheckedNode>();
  let order = 0;

  // ---- settings -------------------------------------------------------------------------
  const settings: ResolvedParams = {};
  for (const s of res.settings) {
    const spec = SETTINGS[s.name.name];
    if (!spec) {
      ds.push(diag('RLHF2013', withSuggestion(`unknown setting '${s.name.name}'`, s.name.name, Object.keys(SETTINGS)), s.name.span, { notes: [`settings: ${Object.keys(SETTINGS).join(', ')}`] }));
      continue;
    }
    if (spec.type === 'block' || s.body) {
      // A block setting (`cluster { gpus: 8 }`): checked like a stage's nested block.
      if (spec.type !== 'block') ds.push(diag('RLHF3001', `'${s.name.name}' is not a block: write '${s.name.name} = value'`, s.name.span));
      else if (!s.body) ds.push(diag('RLHF3001', `'${s.name.name}' is a block: write '${s.name.name} { ... }'`, s.name.span));
      else settings[s.name.name] = checkTree(spec.fields, blockTree(s.body), `${s.name.name}.`, emptyResult(), s.name.name, s.name.span, s.span.file, `setting '${s.name.name}'`);
      continue;
    }
    const v = evaluate(s.value, null, ds);
    if (v) {
      const c = scalar(spec, v, s.name.name, { span: v.span, related: [] });
      if (c !== undefined) settings[s.name.name] = c;
    }
  }
  for (const [k, spec] of Object.entries(SETTINGS)) {
    if (settings[k] !== undefined) continue;
    if (spec.type === 'block') settings[k] = spec.presence === 'always' ? withDefaults(spec.fields, {}) : null;
    else if ('default' in spec) settings[k] = spec.default as Value;
  }

  // ---- scalar conversion ------------------------------------------------------------------
  function scalar(spec: ParamSpec, v: RVal, path: string, where: Where): Value | undefined {
    const bad = (code: 'RLHF3001' | 'RLHF3002' | 'RLHF3006', msg: string, notes?: string[]) => {
      ds.push(diag(code, msg, where.span, { related: where.related, notes }));
      return undefined;
    };
    switch (spec.type) {
      case 'int':
      case 'float': {
        if (v.k !== 'num') return bad('RLHF3001', `'${path}' expects ${spec.type === 'int' ? 'an integer' : 'a number'}, found ${describeRVal(v)}`);
        if (spec.type === 'int' && !v.isInt) return bad('RLHF3001', `'${path}' expects an integer, found ${describeRVal(v)}`);
        const lo = spec.min;
        const hi = spec.max;
        const minEx = spec.type === 'float' && spec.minExclusive;
        const maxEx = spec.type === 'float' && spec.maxExclusive;
        if (lo !== undefined && (minEx ? v.v <= lo : v.v < lo)) return bad('RLHF3002', `'${path}' must be ${minEx ? '>' : '≥'} ${lo}, found ${v.v}`);
        if (hi !== undefined && (maxEx ? v.v >= hi : v.v > hi)) return bad('RLHF3002', `'${path}' must be ${maxEx ? '<' : '≤'} ${hi}, found ${v.v}`);
        return v.v;
      }
      case 'bool':
        return v.k === 'bool' ? v.v : bad('RLHF3001', `'${path}' expects true or false, found ${describeRVal(v)}`);
      case 'string':
        if (v.k === 'ref' && v.path.length === 1 && spec.enum) {
          // A bare word where an enum string is expected reads naturally: `kind: pairs`.
          v = { k: 'str', v: v.path[0].name, span: v.span };
        }
        if (v.k !== 'str') return bad('RLHF3001', `'${path}' expects a string, found ${describeRVal(v)}`);
        if (spec.enum && !spec.enum.includes(v.v)) {
          return bad('RLHF3006', withSuggestion(`'${path}' cannot be ${JSON.stringify(v.v)}`, v.v, spec.enum), [`expected one of: ${spec.enum.join(', ')}`]);
        }
        return v.v;
      case 'list': {
        if (v.k !== 'list') return bad('RLHF3001', `'${path}' expects a list, found ${describeRVal(v)}`);
        const out: Value[] = [];
        for (const item of v.items) {
          const c = scalar({ type: spec.of, doc: '', enum: spec.enum } as ParamSpec, item, `${path}[]`, { span: item.span, related: where.related });
          if (c === undefined) return undefined;
          out.push(c);
        }
        return out;
      }
      default:
        return undefined;
    }
  }

  // ---- references ---------------------------------------------------------------------------
  const stageByName = new Map(res.stages.map((s) => [s.decl.name.name, s]));
  const inProgress: string[] = [];

  /** Bind a reference to a node output; reports RLHF2003/2011/2012/4001. */
  function bindRef(v: Extract<RVal, { k: 'ref' }>, where: Where): CheckedNode | { node: CheckedNode; output: string } | undefined {
    const [head, ...tail] = v.path;
    const decl = res.symbols.get(head.name);
    if (!decl) {
      const names = [...res.symbols.keys()];
      ds.push(diag('RLHF2003', withSuggestion(`unknown name '${head.name}'`, head.name, names), head.span, { related: where.related }));
      return undefined;
    }
    if (decl.kind === 'template' || decl.kind === 'setting') {
      ds.push(diag('RLHF2012', `'${head.name}' is a ${decl.kind}; it cannot be used as a value here`, head.span, { related: where.related }));
      return undefined;
    }
    if (decl.kind === 'stage') {
      const stage = stageByName.get(head.name);
      if (!stage) return undefined; // its own errors were reported
      const schema = STAGE_SCHEMAS[stage.kind];
      const outs = Object.keys(schema.outputs);
      if (tail.length === 0) {
        ds.push(diag('RLHF2011', `'${head.name}' is a stage; name one of its outputs: ${outs.map((o) => `${head.name}.${o}`).join(', ')}`, v.span, { related: where.related }));
        return undefined;
      }
      if (tail.length > 1 || !outs.includes(tail[0].name)) {
        ds.push(
          diag('RLHF2011', withSuggestion(`stage '${head.name}' (${stage.kind}) has no output '${tail.map((t) => t.name).join('.')}'`, tail[0].name, outs), tail[0].span, {
            related: where.related,
            notes: [`outputs of ${stage.kind}: ${outs.join(', ')}`],
          }),
        );
        return undefined;
      }
      if (inProgress.includes(head.name)) {
        const cycle = [...inProgress.slice(inProgress.indexOf(head.name)), head.name];
        ds.push(diag('RLHF4001', `stages depend on each other in a cycle: ${cycle.join(' → ')}`, v.span, { related: where.related }));
        return undefined;
      }
      const node = checkStage(stage);
      return node ? { node, output: tail[0].name } : undefined;
    }
    if (tail.length) {
      ds.push(diag('RLHF2012', `'${head.name}' is a ${decl.kind} and has no field '${tail[0].name}'`, tail[0].span, { related: where.related }));
      return undefined;
    }
    return checkSource(decl as SourceDecl);
  }

  /** Resolve an input parameter's value (reference or inline judge call) to a binding. */
  function bindInput(
    spec: Extract<ParamSpec, { type: 'input' }>,
    v: RVal,
    path: string,
    where: Where,
    owner: string,
    ownerFile: string,
  ): { b: CheckedInput; node: CheckedNode } | undefined {
    let target: { node: CheckedNode; output: string } | undefined;
    if (v.k === 'ref') {
      const r = bindRef(v, where);
      if (!r) return undefined;
      target = 'output' in r && !('category' in r) ? r : { node: r as CheckedNode, output: OUTPUT_OF_SOURCE[(r as CheckedNode).category] };
    } else if (v.k === 'call') {
      if (!JUDGE_SOURCES[v.callee.name]) {
        const all = Object.keys(JUDGE_SOURCES);
        ds.push(
          diag('RLHF2010', withSuggestion(`unknown judge '${v.callee.name}'`, v.callee.name, all), v.callee.span, { related: where.related, notes: [`judges: ${all.join(', ')}`] }),
        );
        return undefined;
      }
      const node = checkConstructor('judge', `${owner}.${path}`, JUDGE_SOURCES[v.callee.name], v.args, undefined, v.span, where.related, ownerFile);
      if (!node) return undefined;
      target = { node, output: 'judge' };
    } else {
      ds.push(
        diag('RLHF3005', `'${path}' expects ${spec.accepts.join(' or ')}, found ${describeRVal(v)}`, where.span, {
          related: where.related,
          notes: ['give the name of a declaration or a stage output, e.g. base.model'],
        }),
      );
      return undefined;
    }
    const type = target.node.category === 'stage' ? target.node.outputs[target.output] : outputType(target.node);
    if (!spec.accepts.includes(type)) {
      const what = target.node.category === 'stage' ? `${target.node.name}.${target.output}` : `${target.node.category} '${target.node.name}'`;
      ds.push(
        diag('RLHF3005', `'${path}' expects ${spec.accepts.map((a) => `'${a}'`).join(' or ')}, but ${what} is '${type}'`, where.span, {
          related: where.related,
        }),
      );
      return undefined;
    }
    return { b: { node: target.node.id, output: target.output, type }, node: target.node };
  }

  function outputType(n: CheckedNode): ArtifactType {
    if (n.category === 'dataset') return n.datasetKind as ArtifactType;
    return Object.values(n.outputs)[0];
  }

  // ---- parameter trees ---------------------------------------------------------------------------
  interface TreeResult {
    params: ResolvedParams;
    defaults: string[];
    inputs: Record<string, CheckedInput>;
    inputNodes: Record<string, CheckedNode>;
    spans: Map<string, Where>;
  }

  function whereOf(item: TreeItem): Where {
    const env = item.kind === 'field' ? item.value.env : null;
    return { span: item.kind === 'field' ? item.value.expr.span : item.key.span, related: envTrail(env) };
  }

  function checkTree(
    specs: Record<string, ParamSpec>,
    tree: Tree,
    prefix: string,
    out: TreeResult,
    owner: string,
    ownerSpan: A.Span,
    ownerFile: string,
    ownerWhat: string,
  ): ResolvedParams {
    const params: ResolvedParams = {};
    for (const [key, item] of tree) {
      const spec = specs[key];
      const path = prefix + key;
      const where = whereOf(item);
      out.spans.set(path, { span: item.key.span, related: where.related });
      if (!spec) {
        const kinds = Object.keys(specs);
        // A field of a nested block written at this level (`lr: 1e-3` instead of `optimizer { lr: 1e-3 }`).
        const wanted = ALIASES[key] ?? key;
        const home = Object.entries(specs).find(([, sp]) => sp.type === 'block' && wanted in sp.fields)?.[0];
        const message = home
          ? `unknown parameter '${path}' for ${ownerWhat}; it belongs in the '${home}' block: ${home} { ${wanted}: … }`
          : withSuggestion(`unknown parameter '${path}' for ${ownerWhat}`, key, kinds);
        ds.push(
          diag('RLHF3003', message, item.key.span, {
            related: where.related,
            notes: [`parameters${prefix ? ` of ${prefix.slice(0, -1)}` : ''}: ${kinds.join(', ')}`],
          }),
        );
        continue;
      }
      if (spec.type === 'block') {
        if (item.kind !== 'block') {
          ds.push(diag('RLHF3001', `'${path}' is a block: write '${key} { ... }'`, item.key.span, { related: where.related }));
          continue;
        }
        params[key] = checkTree(spec.fields, item.tree, `${path}.`, out, owner, ownerSpan, ownerFile, ownerWhat);
        continue;
      }
      if (item.kind === 'block') {
        ds.push(diag('RLHF3001', `'${path}' is not a block: write '${key}: value'`, item.key.span, { related: where.related }));
        continue;
      }
      const v = evaluate(item.value.expr, item.value.env, ds);
      if (!v) continue;
      if (spec.type === 'input') {
        if (spec.many) {
          const items = v.k === 'list' ? v.items : [v];
          items.forEach((it, i) => {
            const b = bindInput(spec, it, path, { span: it.span, related: where.related }, owner, ownerFile);
            if (b) {
              out.inputs[`${path}[${i}]`] = b.b;
              out.inputNodes[`${path}[${i}]`] = b.node;
            }
          });
          if (spec.required && items.length === 0) ds.push(diag('RLHF3004', `'${path}' needs at least one entry`, v.span, { related: where.related }));
        } else {
          const b = bindInput(spec, v, path, where, owner, ownerFile);
          if (b) {
            out.inputs[path] = b.b;
            out.inputNodes[path] = b.node;
          }
        }
        continue;
      }
      const c = scalar(spec, v, path, where);
      if (c !== undefined) params[key] = c;
    }
    // Missing parameters: required ones are errors; the rest take defaults.
    for (const [key, spec] of Object.entries(specs)) {
      const path = prefix + key;
      if (tree.has(key)) continue;
      if (spec.type === 'input') {
        if (spec.required) ds.push(diag('RLHF3004', `${ownerWhat} needs '${path}' (${spec.accepts.join(' or ')}): ${spec.doc}`, ownerSpan));
        continue;
      }
      if (spec.type === 'block') {
        if (spec.presence === 'always') params[key] = checkTree(spec.fields, new Map(), `${path}.`, out, owner, ownerSpan, ownerFile, ownerWhat);
        else params[key] = null;
        continue;
      }
      if (spec.required) {
        ds.push(diag('RLHF3004', `${ownerWhat} needs '${path}': ${spec.doc}`, ownerSpan));
        continue;
      }
      params[key] = spec.default === undefined ? null : (spec.default as Value);
      out.defaults.push(path);
    }
    // Schema order, so plans read the same whatever order the user wrote.
    const ordered: ResolvedParams = {};
    for (const key of Object.keys(specs)) if (key in params) ordered[key] = params[key];
    return ordered;
  }

  function emptyResult(): TreeResult {
    return { params: {}, defaults: [], inputs: {}, inputNodes: {}, spans: new Map() };
  }

  function reportRules(violations: { path: string; message: string }[], spans: Map<string, Where>, fallback: A.Span) {
    for (const v of violations) {
      const w = spans.get(v.path);
      ds.push(diag('RLHF3007', v.message, w?.span ?? fallback, { related: w?.related }));
    }
  }

  function fileHash(path: string, mustBeFile = false): string {
    const h = createHash('sha256');
    const st = statSync(path);
    if (st.isDirectory() && !mustBeFile) {
      for (const f of ['config.json', 'model.safetensors', 'adapter_config.json', 'adapter_model.safetensors', 'tokenizer.json']) {
        const p = join(path, f);
        if (existsSync(p)) h.update(f).update(readBytesSync(p, { what: f, maxBytes: LIMITS.weights }));
      }
    } else h.update(readBytesSync(path, { what: 'file', maxBytes: LIMITS.data }));
    return h.digest('hex');
  }

  /** A path written in `file` (relative to it) → path relative to the main spec's folder. */
  function localPath(written: string, file: string): { abs: string; rel: string } {
    const abs = resolvePath(dirname(resolvePath(file)), written);
    return { abs, rel: relative(mainDir, abs).split('\\').join('/') || '.' };
  }

  // ---- constructors (datasets, tokenizers, models, inline judges) --------------------------------
  function checkConstructor(
    category: 'dataset' | 'tokenizer' | 'model' | 'judge',
    name: string,
    schema: ConstructorSchema,
    args: { name?: A.Ident; value: RVal; span: A.Span }[],
    body: Tree | undefined,
    span: A.Span,
    related: Related[],
    file: string,
  ): CheckedNode | undefined {
    const id = `${category}:${name}`;
    const existing = nodes.get(id);
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
        const b = bindInput(a.spec, g.value, a.name, { span: g.value.span, related }, name, file);
        if (b) {
          out.inputs[a.name] = b.b;
          out.inputNodes[a.name] = b.node;
        } else ok = false;
        continue;
      }
      const c = scalar(a.spec, g.value, a.name, { span: g.value.span, related });
      if (c === undefined) ok = false;
      else params[a.name] = c;
    }
    Object.assign(params, checkTree(schema.params, body ?? new Map(), '', out, name, span, file, what));
    // Local files are checked now, not discovered mid-run; their content is part of the hash.
    let contentHash: string | undefined;
    const pathArg = schema.args.find((a) => a.name === 'path' || a.name === 'ref');
    if (pathArg && typeof params[pathArg.name] === 'string') {
      const written = params[pathArg.name] as string;
      const [filePart, exportName] = pathArg.name === 'ref' ? written.split('#') : [written, undefined];
      const { abs, rel } = localPath(filePart, file);
      const argSpan = given.get(pathArg.name)?.span ?? span;
      if (!existsSync(abs)) {
        ds.push(diag('RLHF3014', `${category === 'judge' ? 'user function file' : 'file'} '${filePart}' not found (looked for ${rel})`, argSpan, { related }));
        ok = false;
      } else {
        params[pathArg.name] = exportName !== undefined ? `${rel}#${exportName}` : rel;
        try {
          // Data files and hooks must be regular files (a folder, FIFO or device is refused before reading).
          contentHash = fileHash(abs, category !== 'model');
        } catch (e) {
          if (!(e instanceof UserError)) throw e;
          ds.push(diag('RLHF3014', `${category === 'judge' ? 'user function file' : 'file'} '${filePart}': ${e.diagnostics[0].message.slice(e.diagnostics[0].message.indexOf(': ') + 2)}`, argSpan, { related }));
          ok = false;
        }
        if (ok && pathArg.name === 'ref') {
          const problem = exportName ? checkUserFunction(abs, exportName) : 'write the function as "file.ts#exportName"';
          if (problem) {
            ds.push(diag('RLHF3013', `${written}: ${problem}`, argSpan, { related, notes: ['expected: (prompt: string, response: string) => number | Promise<number>'] }));
            ok = false;
          }
        }
      }
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
      order: order++,
    };
    if (schema.rules && ok) reportRules(schema.rules(params), out.spans, span);
    // Facts.
    if (category === 'dataset') {
      const kind = datasetKindOf(schema.name, schema.args.map((a) => params[a.name]), params);
      if (!kind) {
        ds.push(diag('RLHF3004', `${what} needs 'kind' (text, pairs, preferences or prompts)`, span));
        ok = false;
      } else if (schema.name === 'corpus' && typeof params['name'] === 'string' && !CORPUS_KINDS[params['name']]?.includes(kind)) {
        const allowed = CORPUS_KINDS[params['name']] ?? [];
        ds.push(diag('RLHF3009', `corpus "${params['name']}" cannot be read as '${kind}'`, out.spans.get('kind')?.span ?? span, { notes: [`it can be: ${allowed.join(', ')}`] }));
        ok = false;
      }
      node.datasetKind = kind;
      node.outputs = { data: (kind ?? 'text') as ArtifactType };
    } else if (category === 'tokenizer') {
      node.vocab = schema.name === 'gpt2' ? 50257 : schema.name === 'bpe' ? (params['vocab_size'] as number) : undefined;
    } else if (category === 'model') {
      if (schema.name === 'gpt') {
        node.model = {
          tokenized: false,
          context: params['context'] as number,
          layers: params['layers'] as number,
          heads: params['heads'] as number,
          width: params['width'] as number,
        };
      } else if (schema.name === 'load' && ok) {
        node.model = readModelFacts(resolvePath(mainDir, params['path'] as string), given.get('path')?.span ?? span);
      } else if (schema.name === 'hf' && ok && typeof params['id'] === 'string') {
        // A local folder is recorded relative to the main spec (like `load`) and hashed; a Hub id is kept as written.
        const { abs, rel } = localPath(params['id'], file);
        if (existsSync(join(abs, 'config.json'))) {
          params['id'] = rel.startsWith('.') ? rel : `./${rel}`;
          node.contentHash = fileHash(abs);
          node.model = readModelFacts(abs, given.get('id')?.span ?? span);
        }
      }
    }
    if (!ok && category !== 'dataset') return undefined;
    nodes.set(id, node);
    return ok ? node : undefined;
  }

  function readModelFacts(dir: string, span: A.Span): ModelFacts | undefined {
    const cfgPath = join(dir, 'config.json');
    if (!existsSync(cfgPath)) {
      ds.push(diag('RLHF3011', `no config.json in model folder ${relative(mainDir, dir) || '.'}`, span));
      return undefined;
    }
    try {
      const c = readJsonSync(cfgPath, ModelFactsSchema, { what: 'model config' });
      return { tokenized: true, context: c.n_positions as number, layers: c.n_layer as number, heads: c.n_head as number, width: c.n_embd as number, vocab_size: c.vocab_size };
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      const d = e.diagnostics[0];
      ds.push(diag('RLHF3011', `config.json in ${relative(mainDir, dir) || '.'}: ${d.message.slice(d.message.indexOf(': ') + 2)}`, span, d.notes ? { notes: d.notes } : {}));
      return undefined;
    }
  }

  const sourceTables: Record<string, Record<string, ConstructorSchema>> = { dataset: DATASET_SOURCES, tokenizer: TOKENIZER_SOURCES, model: MODEL_SOURCES };
  const sourceDone = new Map<SourceDecl, CheckedNode | undefined>();

  function checkSource(d: SourceDecl): CheckedNode | undefined {
    if (sourceDone.has(d)) return sourceDone.get(d);
    sourceDone.set(d, undefined);
    const table = sourceTables[d.kind];
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
    const args: { name?: A.Ident; value: RVal; span: A.Span }[] = [];
    if (d.source.kind === 'call') {
      for (const a of d.source.args) {
        const v = evaluate(a.value, null, ds);
        if (v) args.push({ name: a.name, value: v, span: a.span });
      }
    }
    const body: Tree = new Map();
    if (d.body) {
      for (const e of d.body.entries) {
        if (body.has(e.key.name)) {
          ds.push(diag('RLHF2008', `'${e.key.name}' is given twice in this block`, e.key.span));
          continue;
        }
        body.set(
          e.key.name,
          e.kind === 'field'
            ? { kind: 'field', key: e.key, value: { expr: e.value, env: null }, span: e.span }
            : { kind: 'block', key: e.key, tree: blockTree(e.body), span: e.span },
        );
      }
    }
    const node = checkConstructor(d.kind, d.name.name, schema, args, body, d.name.span, [], d.span.file);
    if (node) node.span = d.name.span;
    sourceDone.set(d, node);
    return node;
  }

  function blockTree(b: A.Block): Tree {
    const t: Tree = new Map();
    for (const e of b.entries) {
      if (t.has(e.key.name)) {
        ds.push(diag('RLHF2008', `'${e.key.name}' is given twice in this block`, e.key.span));
        continue;
      }
      t.set(e.key.name, e.kind === 'field' ? { kind: 'field', key: e.key, value: { expr: e.value, env: null }, span: e.span } : { kind: 'block', key: e.key, tree: blockTree(e.body), span: e.span });
    }
    return t;
  }

  // ---- stages ---------------------------------------------------------------------------------------
  const stageDone = new Map<string, CheckedNode | undefined>();

  function checkStage(s: ResolvedStage): CheckedNode | undefined {
    const name = s.decl.name.name;
    if (stageDone.has(name)) return stageDone.get(name);
    inProgress.push(name);
    const schema = STAGE_SCHEMAS[s.kind];
    const out = emptyResult();
    const what = `stage '${name}' (${s.kind})`;
    const before = ds.length;
    const params = checkTree(schema.params, s.tree, '', out, name, s.decl.name.span, s.decl.span.file, what);
    inProgress.pop();
    const node: CheckedNode = {
      id: `stage:${name}`,
      category: 'stage',
      name,
      kind: s.kind,
      templates: s.templates,
      span: s.decl.name.span,
      params,
      defaults: out.defaults,
      inputs: out.inputs,
      outputs: { ...schema.outputs },
      order: order++,
    };
    // Facts flowing in: each input's model facts; a tokenizer input supplies the vocabulary.
    const facts: Record<string, InputFacts | undefined> = {};
    for (const [param, b] of Object.entries(out.inputs)) {
      const n = out.inputNodes[param];
      facts[param] = { type: b.type, model: n.model, vocab_size: n.vocab };
    }
    const tokVocab = facts['tokenizer']?.vocab_size;
    for (const [outName, inParam] of Object.entries(schema.carries ?? {})) {
      const m = facts[inParam]?.model;
      if (m) node.model = { ...m, tokenized: m.tokenized || Boolean(facts['tokenizer']), vocab_size: m.vocab_size ?? tokVocab };
      void outName;
    }
    // Length defaults follow a smaller model context (a user-written value is checked by the rules).
    for (const [key, spec] of Object.entries(schema.params)) {
      if (spec.type !== 'int' || !spec.capDefaultAtContextOf || !out.defaults.includes(key)) continue;
      const ctxLen = facts[spec.capDefaultAtContextOf]?.model?.context;
      const cap = ctxLen === undefined ? undefined : Math.max(1, Math.floor(ctxLen * (spec.capFraction ?? 1)));
      if (cap !== undefined && (params[key] as number) > cap) params[key] = cap;
    }
    if (ds.length === before && schema.rules) reportRules(schema.rules(params, { inputs: facts }), out.spans, s.decl.name.span);
    const ok = ds.length === before;
    stageDone.set(name, ok ? node : undefined);
    if (ok) nodes.set(node.id, node);
    return ok ? node : undefined;
  }

  for (const d of res.sources) checkSource(d);
  for (const s of res.stages) checkStage(s);
  return { nodes: [...nodes.values()].sort((a, b) => a.order - b.order), settings, diagnostics: ds };
}
