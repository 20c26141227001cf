// The source constructors of the language — what may stand on the right of `dataset x = ...`,
// `tokenizer t = ...`, `model m = ...`, and what a judge may be (`vader()`, `fn("./hooks.ts#f")`) —
// one file each in this folder (schema, compile-time facts, running code), gathered here in the
// order the docs list them; and the top-level settings. The compiler checks against these tables,
// runtime/nodes.ts and the scorer run them.

import { block, int, str, type ConstructorSchema, type DatasetKind, type ParamSpec, type ResolvedParams } from '../../core/schema.ts';
import { dataError, type DataRecord } from '../data/records.ts';
import { DEFAULT_PROMPT_WORDS } from '../data/derive.ts';
import { corpus } from './dataset-corpus.ts';
import { json } from './dataset-json.ts';
import { jsonl } from './dataset-jsonl.ts';
import { text } from './dataset-text.ts';
import { afinn } from './judge-afinn.ts';
import { fn } from './judge-fn.ts';
import { length } from './judge-length.ts';
import { vader } from './judge-vader.ts';
import { words } from './judge-words.ts';
import { gpt } from './model-gpt.ts';
import { llama } from './model-llama.ts';
import { hf } from './model-hf.ts';
import { load } from './model-load.ts';
import { bpe } from './tokenizer-bpe.ts';
import { chars } from './tokenizer-chars.ts';
import { gpt2 } from './tokenizer-gpt2.ts';
import type { DatasetSource, DatasetSpec, Judge, JudgeSource, ModelSource, TokenizerSource } from './types.ts';

export type { DatasetSource, DatasetSpec, Judge, JudgeSource, ModelSource, TokenizerSource } from './types.ts';

export const DATASET_SOURCES: Record<string, DatasetSource> = { corpus, text, jsonl, json };
export const TOKENIZER_SOURCES: Record<string, TokenizerSource> = { gpt2, bpe, chars };
export const MODEL_SOURCES: Record<string, ModelSource> = { gpt, llama, load, hf };
export const JUDGE_SOURCES: Record<string, JudgeSource> = { vader, afinn, length, words, fn };

/** The dataset kind a declaration produces (written, or its constructor's default), from its args and params by name. */
export function datasetKindOf(schema: ConstructorSchema, p: ResolvedParams): DatasetKind | undefined {
  return schema.facts?.(p).kind ?? (typeof p['kind'] === 'string' ? (p['kind'] as DatasetKind) : undefined);
}

/** Load a dataset's records (relative paths against `baseDir`), keep the first `limit`; an empty result is an error. */
export async function loadDataset(spec: DatasetSpec, baseDir: string): Promise<DataRecord[]> {
  const source = DATASET_SOURCES[spec.source];
  if (!source) throw dataError(`${spec.source}(...)`, `unknown dataset source '${spec.source}' (expected one of ${Object.keys(DATASET_SOURCES).join(', ')})`);
  const promptWords = intParam(spec, 'prompt_words', DEFAULT_PROMPT_WORDS, 1);
  const limit = intParam(spec, 'limit', 0, 0); // 0: all records
  let { records, where } = await source.load(spec, baseDir, promptWords);
  if (limit > 0) records = records.slice(0, limit);
  if (records.length === 0) {
    const hint = spec.kind === 'prompts' || spec.kind === 'pairs' || spec.kind === 'unpaired' ? ` (for ${spec.kind}, texts need more than prompt_words=${promptWords} words)` : '';
    throw dataError(where, `the ${spec.kind} dataset is empty${hint}`);
  }
  // Pairs whose prompts and responses are all empty give a trainer nothing but end-of-text to learn.
  if (spec.kind === 'pairs' && records.every((r) => !('prompt' in r && r.prompt) && !('response' in r && r.response))) {
    throw dataError(where, `the pairs dataset has nothing to learn: every record's prompt and response is empty (${records.length} record${records.length === 1 ? '' : 's'})`);
  }
  return records;
}

function intParam(spec: DatasetSpec, name: string, def: number, min: number): number {
  const v = spec.params[name];
  if (v === undefined || v === null) return def;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw dataError(`${spec.source}(...)`, `${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return v;
}

/** Build a judge from its constructor name and resolved args. */
export async function makeJudge(constructor: string, args: ResolvedParams, baseDir: string): Promise<Judge> {
  const source = JUDGE_SOURCES[constructor];
  if (!source) throw new Error(`unknown judge constructor '${constructor}' (expected one of ${Object.keys(JUDGE_SOURCES).join(', ')})`);
  return source.build(args, baseDir);
}

/** Accelerate strategies of the TRL export: plain data parallel, DeepSpeed ZeRO stage 2 or 3, or PyTorch FSDP. */
export const CLUSTER_STRATEGIES = ['ddp', 'zero2', 'zero3', 'fsdp'] as const;

/** Top-level settings: `seed = 42`, `artifacts = ".rlhfc"`, `cluster { ... }`. */
export const SETTINGS: Record<string, ParamSpec> = {
  seed: int('Run seed: initialisation, shuffling, dropout, sampling.', 0, 0),
  artifacts: str('Folder of the artifact store, relative to the spec file (an existing store under the old default name `.rlhf` is used while no `.rlhfc` exists).', '.rlhfc'),
  cluster: block('Where the TRL export runs (`rlhfc compile --target trl`); ignored by the local runtime. Command-line flags override it.', 'optional', {
    gpus: int('GPUs per node.', 1, 1, 1024),
    nodes: int('Machines.', 1, 1, 4096),
    strategy: str('How the model is spread over GPUs: data parallel, DeepSpeed ZeRO-2 / ZeRO-3, or FSDP.', 'ddp', CLUSTER_STRATEGIES),
    mixed_precision: str('Mixed precision of training; `auto`: decided when the export runs (bf16 on GPUs that support it, else fp32).', 'auto', ['auto', 'no', 'fp16', 'bf16']),
  }),
};
