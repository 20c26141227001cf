// What the runner hands a stage's `run()`, and what flows between nodes at run time.

import type { Plan, PlanNode } from '../core/plan-types.ts';
import type { Reporter } from './reporter.ts';
import type { ArtifactType, DatasetKind, InputSpec, ParamSpec, ParamsOf, ResolvedParams } from '../core/schema.ts';

/** A dataset record of any kind (fields depend on the kind). */
export interface DataRecord {
  text?: string;
  prompt?: string;
  response?: string;
  chosen?: string;
  rejected?: string;
  margin?: number;
  completion?: string;
  label?: boolean;
}

export interface DatasetArtifact {
  type: DatasetKind;
  train: DataRecord[];
  validation: DataRecord[];
  /** Where it came from, for error messages ('dataset:speeches', 'stage:labels'). */
  origin: string;
}

export interface TokenizerArtifact {
  type: 'tokenizer';
  /** Folder holding tokenizer.json / rlhfc_tokenizer.json. */
  dir: string;
}

/** Architecture of a `gpt { ... }` declaration (vocab comes from the tokenizer bound later). */
export interface GptInit {
  layers: number;
  heads: number;
  width: number;
  context: number;
  dropout: number;
}

/**
 * A model: either a saved folder (config.json + model.safetensors + tokenizer, or a LoRA adapter
 * folder whose adapter_config.json names its base folder), or a fresh architecture to initialise.
 */
/** Architecture of a `llama { ... }` declaration (a Llama/Qwen2/Qwen3/Mistral-shaped decoder; vocab from the tokenizer). */
export interface LlamaInit {
  family: 'llama' | 'qwen2' | 'qwen3' | 'mistral';
  layers: number;
  heads: number;
  kvHeads: number;
  width: number;
  headDim: number;
  intermediate: number;
  context: number;
  ropeTheta: number;
  rmsNormEps: number;
  tie: boolean;
  dropout: number;
}

export interface ModelArtifact {
  type: 'causal_lm' | 'reward_model';
  dir?: string;
  init?: GptInit | LlamaInit;
}

export interface JudgeArtifact {
  type: 'judge';
  /** The judge constructor and its resolved args, built by its runtime/sources/judge-<name>.ts at run time. */
  constructor: string;
  args: ResolvedParams;
  /** For `fn("./file.ts#name")`: the spec's folder, to resolve the file. */
  baseDir: string;
}

export interface ReportArtifact {
  type: 'report';
  dir: string;
}

export type Artifact = DatasetArtifact | TokenizerArtifact | ModelArtifact | JudgeArtifact | ReportArtifact;

export interface StageContext {
  plan: Plan;
  node: PlanNode;
  params: ResolvedParams;
  /** Bound inputs by parameter name (`model`, `data`, `models[0]`, ...). */
  inputs: Record<string, Artifact>;
  /**
   * Folder to write outputs into (a temp folder the runner renames into the store when run()
   * returns): one subfolder per output name (`model/`, `data/`, `report/`).
   */
  outDir: string;
  /** Folder of the main spec (relative paths in params resolve against it). */
  specDir: string;
  seed: number;
  reporter: Reporter;
  /** Aborted on SIGINT/SIGTERM: stages stop at the next step boundary (after a checkpoint). */
  signal: AbortSignal;
  /** Where the stage keeps its resumable checkpoint (absent: no checkpoints). */
  checkpointDir?: string;
}

/** The artifact an input receives, by the artifact types it accepts. */
export type ArtifactOf<T extends ArtifactType> = T extends DatasetKind
  ? DatasetArtifact
  : T extends 'tokenizer'
    ? TokenizerArtifact
    : T extends 'causal_lm' | 'reward_model'
      ? ModelArtifact
      : T extends 'judge'
        ? JudgeArtifact
        : ReportArtifact;

/** The bound inputs of a schema's `params` (single inputs; a list input arrives as `name[0]`, `name[1]`, ...). */
export type InputsOf<P extends Record<string, ParamSpec>> = {
  -readonly [K in keyof P as P[K] extends InputSpec & { many: true } ? never : P[K] extends InputSpec ? K : never]: P[K] extends {
    accepts: readonly (infer T extends ArtifactType)[];
    required: infer R;
  }
    ? R extends false
      ? ArtifactOf<T> | undefined
      : ArtifactOf<T>
    : never;
};

/** A stage's context with its params and inputs typed from its schema (`ContextOf<typeof schema.params>`). */
export type ContextOf<P extends Record<string, ParamSpec>> = Omit<StageContext, 'params' | 'inputs'> & {
  params: ParamsOf<P>;
  inputs: InputsOf<P> & Record<string, Artifact>;
};

export interface StageOutcome {
  /** Final metrics (also kept in node.json); `headline` is shown in the run's summary table. */
  metrics: Record<string, number | string>;
  headline: string;
}

export type StageRun = (ctx: StageContext) => Promise<StageOutcome>;
