// The plan: the compiler's output and the IR both back ends consume (local runtime, TRL export).
// Plain JSON data, versioned. `rlhfc compile --format json` prints exactly this object.

import type { ArtifactType, ModelFacts, Value } from './schema.ts';

export const PLAN_FORMAT = 'rlhfc-plan';
export const PLAN_VERSION = 1;

export type NodeCategory = 'dataset' | 'tokenizer' | 'model' | 'judge' | 'stage';

export interface Loc {
  file: string; // relative to the directory of the main spec, forward slashes (no absolute paths)
  line: number;
  col: number;
}

/** An edge: this node's input `param` is output `output` of node `node`. */
export interface InputBinding {
  node: string; // node id
  output: string; // 'data', 'tokenizer', 'model', 'judge', ...
  type: ArtifactType;
}

export interface PlanNode {
  /** Stable id: `<category>:<name>`, e.g. 'dataset:speeches', 'stage:chat'. Inline constructors
   *  written inside a stage (e.g. `judge: vader()`) get `<category>:<stage>.<param>`. */
  id: string;
  category: NodeCategory;
  name: string;
  /** Constructor ('corpus', 'jsonl', 'bpe', 'gpt', 'load', 'vader', 'fn', ...) or stage kind ('sft', 'ppo', ...). */
  kind: string;
  /** Template chain that produced this stage, outermost first (e.g. ['lora_sft']); empty when none. */
  templates: string[];
  loc: Loc;
  /** Every parameter resolved: user value, template value or default. Inputs are not repeated here. */
  params: Record<string, Value>;
  /** Dotted paths of params whose value is the schema default ('optimizer.lr'). */
  defaults: string[];
  /** Dotted paths of params typed float or list of floats in the schema ('optimizer.lr'), absent when
   *  none: JSON cannot tell `1` from `1.0`, and a back end that writes typed code (the TRL export
   *  writes `1.0`) reads the type here instead of the runtime's schemas. */
  floats?: string[];
  inputs: Record<string, InputBinding>;
  outputs: Record<string, ArtifactType>;
  /** For datasets: the dataset kind; for models and stages producing models: architecture facts. */
  datasetKind?: string;
  model?: ModelFacts;
  /** Content hash (hex sha256) of kind, params, input hashes, seed and compiler version: the cache key. */
  hash: string;
}

export interface Plan {
  format: typeof PLAN_FORMAT;
  version: typeof PLAN_VERSION;
  compiler: string; // compiler version
  spec: string; // main spec path relative to cwd, forward slashes
  seed: number;
  /** Top-level settings (`seed = 42`, `artifacts = ".rlhfc"`), resolved with defaults. */
  settings: Record<string, Value>;
  /** All nodes in a deterministic topological order (dependencies first, then source order). */
  nodes: PlanNode[];
}
