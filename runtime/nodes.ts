// Materialising the plan's non-stage nodes (datasets, tokenizers, models, judges) and reading a
// finished stage's outputs back from the store.

import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { Plan, PlanNode } from '../core/plan-types.ts';
import type { DatasetKind, ResolvedParams, Value } from '../core/schema.ts';
import { splitDataset } from './data/split.ts';
import { DATASET_SOURCES, MODEL_SOURCES, TOKENIZER_SOURCES, loadDataset } from './sources/index.ts';
import { nodeRecord, type ArtifactStore } from './store.ts';
import type { Artifact, DataRecord, DatasetArtifact } from './stage-context.ts';
import { LIMITS, parseJson, readTextSync } from './validate/files.ts';

const DataRecordSchema = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));

export interface MaterializeEnv {
  plan: Plan;
  specDir: string;
  store: ArtifactStore;
  write: (line: string) => void;
  inputs: Record<string, Artifact>;
}

/** Produce the outputs of a dataset/tokenizer/model/judge node. */
export async function materializeSource(node: PlanNode, env: MaterializeEnv): Promise<Record<string, Artifact>> {
  switch (node.category) {
    case 'dataset':
      return { data: await materializeDataset(node, env) };
    case 'tokenizer':
      return { tokenizer: await materializeTokenizer(node, env) };
    case 'model':
      return { model: materializeModel(node, env) };
    case 'judge':
      return { judge: { type: 'judge', constructor: node.kind, args: node.params, baseDir: env.specDir } };
    default:
      throw new Error(`not a source node: ${node.id}`);
  }
}

async function materializeDataset(node: PlanNode, env: MaterializeEnv): Promise<DatasetArtifact> {
  const p = node.params;
  const kind = node.datasetKind as DatasetKind;
  const records = await loadDataset(
    { source: node.kind, args: argsOf(node), params: p, kind },
    env.specDir,
  );
  const split = p['split'] as ResolvedParams;
  const { train, validation } = splitDataset(records, { validation: split['validation'] as number, seed: split['seed'] as number });
  return { type: kind, train: train as DataRecord[], validation: validation as DataRecord[], origin: node.id };
}

/** Constructor arguments, in schema order, from the node's params (args are stored by name). */
function argsOf(node: PlanNode): Value[] {
  return (DATASET_SOURCES[node.kind]?.args ?? []).map((a) => node.params[a.name]);
}

async function materializeTokenizer(node: PlanNode, env: MaterializeEnv): Promise<Artifact> {
  const corrupt = (problem: string, aside: string) => env.write(`${node.name}: corrupt (${problem}); set aside as ${aside}; it is trained again`);
  if (env.store.reusable(node.hash, corrupt)) return { type: 'tokenizer', dir: join(env.store.nodeDir(node.hash), 'tokenizer') };
  const tmp = env.store.beginNode(node.hash);
  const started = performance.now();
  const source = TOKENIZER_SOURCES[node.kind];
  // A constructor with a dataset argument trains on that dataset's training documents.
  const trained = source.args.some((a) => a.spec.type === 'input');
  const data = env.inputs['data'] as DatasetArtifact | undefined;
  if (trained && !data) throw new Error(`tokenizer ${node.name}: its dataset was not materialised`);
  const texts = data ? data.train.map((r) => r.text ?? '') : [];
  const tok = await source.build(node.params, texts, (line) => env.write(`${node.name}: ${line}`));
  const dir = join(tmp, 'tokenizer');
  mkdirSync(dir, { recursive: true });
  await tok.save(dir);
  const seconds = (performance.now() - started) / 1000;
  const final = env.store.commitNode(tmp, nodeRecord(env.plan, node, env.store.root, { vocab_size: tok.vocabSize }, seconds));
  if (trained) env.write(`${node.name}: ${tok.vocabSize} tokens in ${seconds.toFixed(1)} s`);
  return { type: 'tokenizer', dir: join(final, 'tokenizer') };
}

function materializeModel(node: PlanNode, env: MaterializeEnv): Artifact {
  return MODEL_SOURCES[node.kind].open(node.params, { specDir: env.specDir, spec: env.plan.spec, name: node.name });
}

function readJsonl(path: string): DataRecord[] {
  if (!existsSync(path)) return [];
  const o = { what: 'generated dataset', maxBytes: LIMITS.data, fix: 'the stored result is damaged: run `rlhfc verify`, then run again to regenerate it' };
  return readTextSync(path, o)
    .split('\n')
    .filter((l) => l.trim())
    .map((l, i) => parseJson(l, `${path}:${i + 1}`, DataRecordSchema, o) as DataRecord);
}

/** Artifacts of a finished stage, read from its store folder. */
export async function loadStageOutputs(node: PlanNode, dir: string): Promise<Record<string, Artifact>> {
  const out: Record<string, Artifact> = {};
  for (const [name, type] of Object.entries(node.outputs)) {
    const sub = join(dir, name);
    if (type === 'causal_lm' || type === 'reward_model') out[name] = { type, dir: sub };
    else if (type === 'report') out[name] = { type, dir: sub };
    else if (type === 'text' || type === 'pairs' || type === 'preferences' || type === 'prompts' || type === 'unpaired') {
      out[name] = { type, train: readJsonl(join(sub, 'train.jsonl')), validation: readJsonl(join(sub, 'validation.jsonl')), origin: node.id };
    }
  }
  return out;
}
