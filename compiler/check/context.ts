// What the parts of the check phase share while checking one program: the checked nodes so far,
// the diagnostics, and the entry points that recurse through references (a stage input names
// another stage or a source, which is checked on first use). check() (index.ts) wires them.

import type * as A from '../../grammar/ast.ts';
import type { Diagnostic, Related } from '../../core/diagnostics.ts';
import type { ArtifactType, ConstructorSchema, ModelFacts, ResolvedParams } from '../../core/schema.ts';
import type { NodeCategory } from '../../core/plan-types.ts';
import type { RVal } from '../expressions.ts';
import type { Resolved, ResolvedStage, SourceDecl, Tree } from '../resolve.ts';

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
  vocab_size?: number;
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

/** A value's location for diagnostics, with the template trail when it came from a template. */
export type Where = { span: A.Span; related: Related[] };

/** What checking one parameter tree collects besides the params. */
export interface TreeResult {
  params: ResolvedParams;
  defaults: string[];
  inputs: Record<string, CheckedInput>;
  inputNodes: Record<string, CheckedNode>;
  spans: Map<string, Where>;
}

export function emptyResult(): TreeResult {
  return { params: {}, defaults: [], inputs: {}, inputNodes: {}, spans: new Map() };
}

/** The output name of a source declaration's single output. */
export const OUTPUT_OF_SOURCE: Record<string, string> = { dataset: 'data', tokenizer: 'tokenizer', model: 'model', judge: 'judge' };

export type ConstructorCategory = 'dataset' | 'tokenizer' | 'model' | 'judge';

/** One argument of a constructor call, evaluated. */
export interface CallArg {
  name?: A.Ident;
  value: RVal;
  span: A.Span;
}

export interface CheckContext {
  readonly res: Resolved;
  /** Folder of the main spec: local paths are recorded relative to it. */
  readonly mainDir: string;
  readonly ds: Diagnostic[];
  readonly nodes: Map<string, CheckedNode>;
  /** Declaration order of the next node. */
  order: number;
  /** Stages being checked, innermost last (a reference back to one of them is a cycle). */
  readonly inProgress: string[];
  readonly stageByName: Map<string, ResolvedStage>;
  readonly stageDone: Map<string, CheckedNode | undefined>;
  readonly sourceDone: Map<SourceDecl, CheckedNode | undefined>;
  stage(s: ResolvedStage): CheckedNode | undefined;
  source(d: SourceDecl): CheckedNode | undefined;
  construct(...call: ConstructorCall): CheckedNode | undefined;
}

/** A constructor to check: category, node name, schema, call arguments, body, span, template trail, file. */
export type ConstructorCall = [
  category: ConstructorCategory,
  name: string,
  schema: ConstructorSchema,
  args: CallArg[],
  body: Tree | undefined,
  span: A.Span,
  related: Related[],
  file: string,
];
