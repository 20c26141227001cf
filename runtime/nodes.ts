// Materialising the plan's non-stage nodes (datasets, tokenizers, models, judges) and reading a
// finished stage's outputs back from the store.

import { existsSync, mkdirSync } from 'node:fs';
import { z } from 'zod';
import { LIMITS, parseJson, readTextSync } from './validate/files.ts';

const DataRecordSchema = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));
import { join, resolve } from 'node:path';
import type { Plan, PlanNode } from '../core/plan-types.ts';
import { UserError, diag } from '../core/diagnostics.ts';
import { loadDataset, splitDataset } from './data/index.ts';
import { DATASET_SOURCES } from './sources/index.ts';
import { BpeTokenizer, CharTokenizer, Gpt2Tokenizer, type Tokenizer } from './tokenizers/index.ts';
import { nodeRecord, type ArtifactStore } from './store.ts';
import type { Artifact, DataRecord, DatasetArtifact, GptInit } from './stage-context.ts';
import type { DatasetKind, ResolvedParams, Value } from '../core/schema.ts';

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
  let tok: Tokenizer;
  if (node.kind === 'gpt2') tok = new Gpt2Tokenizer();
  else {
    const data = env.inputs['data'] as DatasetArtifact | undefined;
    if (!data) throw new Error(`tokenizer ${node.name}: its dataset was not materialised`);
    const texts = data.train.map((r) => r.text ?? '');
    if (node.kind === 'bpe') {
      env.write(`${node.name}: training byte-level BPE to ${node.params['vocab_size']} tokens on ${texts.length} documents`);
      tok = BpeTokenizer.train(texts, { vocabSize: node.params['vocab_size'] as number });
    } else tok = CharTokenizer.train(texts);
  }
  const dir = join(tmp, 'tokenizer');
  mkdirSync(dir, { recursive: true });
  await tok.save(dir);
  const seconds = (performance.now() - started) / 1000;
  const final = env.store.commitNode(tmp, nodeRecord(env.plan, node, env.store.root, { vocab_size: tok.vocabSize }, seconds));
  if (node.kind !== 'gpt2') env.write(`${node.name}: ${tok.vocabSize} tokens in ${seconds.toFixed(1)} s`);
  return { type: 'tokenizer', dir: join(final, 'tokenizer') };
}

function materializeModel(node: PlanNode, env: MaterializeEnv): Artifact {
  if (node.kind === 'gpt') {
    const p = node.params;
    const init: GptInit = {
      layers: p['layers'] as number,
      heads: p['heads'] as number,
      width: p['width'] as number,
      context: p['context'] as number,
      dropout: p['dropout'] as number,
    };
    return { type: 'causal_lm', init };
  }
  if (node.kind === 'hf') {
    // The local runtime has no Hub access: hf("...") works here only as a local GPT-2-architecture folder.
    const id = String(node.params['id']);
    const dir = resolve(env.specDir, id);
    if (existsSync(join(dir, 'config.json'))) return { type: 'causal_lm', dir };
    throw new UserError([
      diag('RLHF9004', `model ${node.name}: hf("${id}") is not a local model folder (no config.json in ${dir}); the local runtime cannot download Hugging Face models`, undefined, {
        notes: [`download it into a folder and write load("that/folder"), or run this spec on GPUs with: rlhfc compile ${env.plan.spec} --target trl --out DIR`],
      }),
    ]);
  }
  const dir = resolve(env.specDir, String(node.params['path']));
  if (!existsSync(join(dir, 'config.json'))) {
    throw new UserError([diag('RLHF9001', `model ${node.name}: no config.json in ${dir}`)]);
  }
  return { type: 'causal_lm', dir };
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
