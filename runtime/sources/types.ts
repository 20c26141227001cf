// What a source constructor is: its schema (args, body params, compile-time facts; read by the
// compiler) and the code that makes its artifact at run time (read by runtime/nodes.ts and the
// scorer). One file per constructor in this folder owns both, as runtime/stages/<kind>.ts does for
// a stage kind; heavy code (TensorFlow.js, the GPT-2 vocabulary, user modules) is imported inside
// the running functions, so the compiler stays light.

import type { ConstructorSchema, DatasetKind, ResolvedParams, Value } from '../../core/schema.ts';
import type { DataRecord } from '../data/records.ts';
import type { Tokenizer } from '../tokenizers/types.ts';
import type { ModelArtifact } from '../stage-context.ts';

/** A dataset declaration as the runtime reads it: constructor, args in schema order, params, kind. */
export interface DatasetSpec {
  source: string;
  args: Value[];
  params: Record<string, Value>;
  kind: DatasetKind;
  /** Seed for anything random in loading (sentiment preference pairing); falls back to params.seed, then 0. */
  seed?: number;
}

export interface DatasetSource extends ConstructorSchema {
  /** The records, before `limit`; `where` names the source in errors (a path, `corpus("sotu")`). */
  load(spec: DatasetSpec, baseDir: string, promptWords: number): Promise<{ records: DataRecord[]; where: string }>;
}

export interface TokenizerSource extends ConstructorSchema {
  /** Build the tokenizer; `texts` are the training documents when the constructor takes a dataset. */
  build(params: ResolvedParams, texts: string[], log: (line: string) => void): Promise<Tokenizer>;
}

export interface ModelSourceEnv {
  specDir: string;
  /** The spec file, for hints such as `rlhfc compile <spec> --target trl`. */
  spec: string;
  name: string;
}

export interface ModelSource extends ConstructorSchema {
  /** The model artifact: a fresh architecture to initialise, or a folder to open. */
  open(params: ResolvedParams, env: ModelSourceEnv): ModelArtifact;
}

/** The dataset record a prompt came from (its `prompt` and the source's other fields, e.g. a reference answer). */
export type PromptRecordOf = Readonly<Record<string, unknown>>;

/** Anything that scores (prompt, response) pairs; one number per pair, in order. */
export interface Judge {
  name: string;
  /** `records`: each prompt's dataset record, handed to user functions as their third argument (rule judges ignore it). */
  score(prompts: string[], responses: string[], records?: readonly PromptRecordOf[]): Promise<number[]>;
}

export interface JudgeSource extends ConstructorSchema {
  /** Build the judge from its resolved args; `baseDir` resolves files (`fn("./hooks.ts#f")`). */
  build(args: ResolvedParams, baseDir: string): Promise<Judge>;
}

/** Lower-cased words (letters, digits, apostrophes), the unit of length() and words(). */
export function wordsOf(s: string): string[] {
  return s.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];
}
