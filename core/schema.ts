// Parameter schemas: the single source of truth shared by the compiler (checking, defaults,
// plan printing, TRL export) and the runtime (each stage reads its resolved params).
// This file has no dependencies so the compiler can load every schema without loading TensorFlow.js.

/** Types of the artifacts that flow along the plan's edges. */
export type ArtifactType =
  | 'text' // dataset of raw documents
  | 'pairs' // dataset of (prompt, response)
  | 'preferences' // dataset of (prompt, chosen, rejected[, margin])
  | 'prompts' // dataset of prompts
  | 'unpaired' // dataset of (prompt, completion, label: true = desirable / false = undesirable)
  | 'tokenizer'
  | 'causal_lm' // a GPT-style causal LM (full weights, or LoRA adapter + base reference)
  | 'reward_model' // causal LM body + scalar head
  | 'judge' // a scoring function: rule judge, user TS function, or a reward model
  | 'report'; // an evaluation report

export const DATASET_KINDS = ['text', 'pairs', 'preferences', 'prompts', 'unpaired'] as const;
export type DatasetKind = (typeof DATASET_KINDS)[number];

/** A fully resolved parameter value (plain JSON). */
export type Value = number | string | boolean | null | Value[] | { [key: string]: Value };

interface Base {
  doc: string;
  /** A required parameter has no default; the checker reports RLHF3004 when it is missing. */
  required?: boolean;
  /** Does not change the stage's results (e.g. checkpoint_every): left out of the cache key. */
  notInHash?: boolean;
}

export interface IntSpec extends Base {
  type: 'int';
  default?: number;
  /** When not written, the default is capped at the context of the model bound to this input ... */
  capDefaultAtContextOf?: string;
  /** ... times this fraction (default 1), e.g. ½ for a prompt length that must leave room to generate. */
  capFraction?: number;
  min?: number;
  max?: number;
}
export interface FloatSpec extends Base {
  type: 'float';
  default?: number;
  min?: number;
  max?: number;
  minExclusive?: boolean;
  maxExclusive?: boolean;
}
export interface BoolSpec extends Base {
  type: 'bool';
  default?: boolean;
}
export interface StringSpec extends Base {
  type: 'string';
  default?: string;
  enum?: readonly string[];
}
export interface ListSpec extends Base {
  type: 'list';
  of: 'int' | 'float' | 'string';
  enum?: readonly string[];
  default?: Value[];
  minItems?: number;
}
/**
 * A nested block such as `lora { ... }` or `optimizer { ... }`.
 * presence 'always': its fields' defaults apply even when the user did not write the block.
 * presence 'optional': the block is null unless written (e.g. no `lora` block = full fine-tuning).
 */
export interface BlockSpec extends Base {
  type: 'block';
  presence: 'always' | 'optional';
  fields: Record<string, ParamSpec>;
}
/** A reference to a declaration or an earlier stage's output (`tiny`, `sft.model`, `prefs`, `fn("...")`). */
export interface InputSpec extends Base {
  type: 'input';
  accepts: readonly ArtifactType[];
  /** Takes a list of references (`models: [sft.model, rl.model]`); plan bindings are keyed `name[0]`, `name[1]`, ... */
  many?: boolean;
}

export type ParamSpec = IntSpec | FloatSpec | BoolSpec | StringSpec | ListSpec | BlockSpec | InputSpec;

/** Architecture facts the checker tracks along the graph, so rules such as `block_size ≤ context` run at compile time. */
export interface ModelFacts {
  /** Whether a tokenizer is bound (a fresh `gpt` declaration has none until a stage binds one). */
  tokenized: boolean;
  /** The model folder's tokenizer has a chat template (set only when it does). */
  chatTemplate?: boolean;
  vocab_size?: number; // known at compile time for gpt2, bpe and loaded models
  /** The architecture family (`gpt2`, `llama`, `qwen2`, `qwen3`, `mistral`) when known at compile time. */
  family?: string;
  context: number;
  layers: number;
  heads: number;
  width: number;
}

/** What a rule can see about a bound input. */
export interface InputFacts {
  type: ArtifactType;
  model?: ModelFacts;
  /** For a tokenizer input: its vocabulary size when known at compile time. */
  vocab_size?: number;
}

export interface RuleContext {
  inputs: Record<string, InputFacts | undefined>;
}

/** A rule violation: `path` is the parameter it points at ('lora.r', 'mini_batch_size'). */
export interface RuleViolation {
  path: string;
  message: string;
}

export type ResolvedParams = Record<string, Value>;

export interface StageSchema {
  kind: string;
  doc: string;
  params: Record<string, ParamSpec>;
  /** Outputs by name, e.g. { model: 'causal_lm' } — referenced as `stage.model`. */
  outputs: Record<string, ArtifactType>;
  /** Which input's model facts flow to which output (e.g. sft: model → model). */
  carries?: Record<string, string>;
  /** Cross-field rules, checked at compile time on fully resolved params (defaults filled). */
  rules?(p: ResolvedParams, ctx: RuleContext): RuleViolation[];
}

/** A source constructor such as `corpus("sotu")`, `bpe(speeches)`, `gpt`, `load("dir")`, `vader()`. */
export interface ConstructorSchema {
  name: string;
  doc: string;
  /** Positional/named call arguments, in order. */
  args: { name: string; spec: ParamSpec }[];
  /** Parameters allowed in the `{ ... }` body. */
  params: Record<string, ParamSpec>;
  /** What the declaration produces (datasets: computed from `kind`, see `datasetKind`). */
  produces: ArtifactType;
  rules?: (p: ResolvedParams) => RuleViolation[];
  /** What the checker knows about the result at compile time, from the resolved args and params. */
  facts?: (p: ResolvedParams) => SourceFacts;
  /**
   * The argument naming a local model folder whose config.json gives the model facts (`load("dir")`);
   * with `hubId`, the argument may instead be a Hub id that only the TRL export can load (`hf("gpt2")`).
   */
  modelFolder?: { arg: string; hubId?: boolean };
}

/** Compile-time facts of a source: a dataset's kind (and the kinds it could be), a tokenizer's vocabulary, a fresh model's architecture. */
export interface SourceFacts {
  kind?: DatasetKind;
  /** The kinds this dataset can be read as (absent: any). */
  kinds?: readonly DatasetKind[];
  vocab_size?: number;
  model?: ModelFacts;
}

// ---- small helpers for writing schemas -------------------------------------------------------

export const int = (doc: string, def?: number, min?: number, max?: number): IntSpec => ({ type: 'int', doc, default: def, min, max });
export const float = (doc: string, def?: number, min?: number, max?: number, o: Partial<FloatSpec> = {}): FloatSpec => ({
  type: 'float',
  doc,
  default: def,
  min,
  max,
  ...o,
});
export const bool = (doc: string, def?: boolean): BoolSpec => ({ type: 'bool', doc, default: def });
export const str = <const E extends readonly string[] = readonly string[]>(doc: string, def?: E[number], en?: E): StringSpec & { enum?: E } => ({
  type: 'string',
  doc,
  default: def,
  enum: en,
});
export const list = <const O extends ListSpec['of'], const E extends readonly string[] = readonly string[]>(doc: string, of: O, def?: Value[], en?: E): ListSpec & { of: O; enum?: E } => ({
  type: 'list',
  doc,
  of,
  default: def,
  enum: en,
});
export const block = <const P extends BlockSpec['presence'], F extends Record<string, ParamSpec>>(
  doc: string,
  presence: P,
  fields: F,
): Omit<BlockSpec, 'presence' | 'fields'> & { type: 'block'; presence: P; fields: F } => ({ type: 'block', doc, presence, fields }); // not `BlockSpec & …`: its index signature would let any field name through the derived type
export function input<const A extends readonly ArtifactType[]>(doc: string, accepts: A): InputSpec & { accepts: A; required: true };
export function input<const A extends readonly ArtifactType[]>(doc: string, accepts: A, required: false): InputSpec & { accepts: A; required: false };
export function input(doc: string, accepts: readonly ArtifactType[], required = true): InputSpec {
  return { type: 'input', doc, accepts, required };
}
export const inputs = <const A extends readonly ArtifactType[]>(doc: string, accepts: A, required = true): InputSpec & { accepts: A; many: true } => ({
  type: 'input',
  doc,
  accepts,
  required,
  many: true,
});

// ---- the TypeScript types of resolved params, derived from a schema ------------------------

/** The resolved value of one parameter: what the checker hands on after filling defaults. */
export type ValueOf<S> = S extends IntSpec | FloatSpec
  ? number
  : S extends BoolSpec
    ? boolean
    : S extends StringSpec & { enum?: infer E }
      ? E extends readonly string[]
        ? string extends E[number]
          ? string
          : E[number]
        : string
      : S extends ListSpec & { of: infer O }
        ? O extends 'string'
          ? S extends { enum?: infer E }
            ? E extends readonly string[]
              ? string extends E[number]
                ? string[]
                : E[number][]
              : string[]
            : string[]
          : number[]
        : S extends BlockSpec & { presence: infer P; fields: infer F }
          ? F extends Record<string, ParamSpec>
            ? P extends 'optional'
              ? ParamsOf<F> | null
              : ParamsOf<F>
            : never
          : never;

/** Resolved params of a schema's `params` (inputs left out: they arrive as artifacts). */
export type ParamsOf<P extends Record<string, ParamSpec>> = {
  -readonly [K in keyof P as P[K] extends InputSpec ? never : K]: ValueOf<P[K]>;
};

/** A stage kind's schema with its params' types kept (see `stageSchema`). */
export interface TypedStageSchema<P extends Record<string, ParamSpec>> extends Omit<StageSchema, 'params' | 'rules'> {
  params: P;
  rules?(p: ParamsOf<P>, ctx: RuleContext): RuleViolation[];
}

/** Declare a stage kind's schema so that its `rules` and `run()` see typed params. */
export function stageSchema<const P extends Record<string, ParamSpec>>(s: TypedStageSchema<P>): TypedStageSchema<P> {
  return s;
}

/** Dotted paths of the parameters typed float, or list of floats, in a schema ('optimizer.lr', 'optimizer.betas'). */
export function floatPaths(params: Record<string, ParamSpec>, prefix = ''): string[] {
  return Object.entries(params).flatMap(([k, spec]) =>
    spec.type === 'block' ? floatPaths(spec.fields, `${prefix}${k}.`) : spec.type === 'float' || (spec.type === 'list' && spec.of === 'float') ? [`${prefix}${k}`] : [],
  );
}

/** Fill defaults of a (possibly partial) param object from a schema: used by the checker and by tests. */
export function withDefaults(params: Record<string, ParamSpec>, given: Record<string, Value | undefined>): ResolvedParams {
  const out: ResolvedParams = {};
  for (const [k, spec] of Object.entries(params)) {
    const v = given[k];
    if (spec.type === 'block') {
      if (v === undefined || v === null) out[k] = spec.presence === 'always' ? withDefaults(spec.fields, {}) : null;
      else out[k] = withDefaults(spec.fields, v as Record<string, Value>);
    } else if (v !== undefined) out[k] = v;
    else if (spec.type !== 'input' && spec.default !== undefined) out[k] = spec.default as Value;
    else out[k] = null;
  }
  return out;
}
