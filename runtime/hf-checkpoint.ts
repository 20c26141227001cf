// Model and adapter checkpoints in Hugging Face layout:
//   model:   config.json (GPT-2, Llama, Qwen2, Qwen3 or Mistral format) + model.safetensors, or shards
//            listed by model.safetensors.index.json (F32, BF16 or F16, read as float32) (+ tokenizer files)
//   adapter: adapter_config.json (PEFT LoRA format) + adapter_model.safetensors
// Weight names are the exact HF names: GPT-2's (`transformer.h.0.attn.c_attn.weight`, Conv1D layout
// [in, out]) or the Llama family's (`model.layers.0.self_attn.q_proj.weight`, nn.Linear layout [out, in]).
// Folders are written atomically (a temporary sibling folder, then rename). No TensorFlow.js import:
// tensors given as tf.Tensor/tf.Variable are read through their `shape` and `await data()` (asynchronous: webgpu has no synchronous read in Node).

import { randomBytes } from 'node:crypto';
import { access, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { UserError, diag } from '../core/diagnostics.ts';
import { ACTIVATION_NAMES } from './model/activation-names.ts';
import { numel, readSafetensors, writeFileAtomic, writeSafetensors } from './safetensors.ts';
import { loadTokenizer, MANIFEST_FILE, setPadToken, TOKENIZER_FILE, type Tokenizer } from './tokenizers/index.ts';
import type { z } from 'zod';
import { readJson as readValidated } from './validate/files.ts';
import { AdapterConfigSchema, LLAMA_DEFAULT_CONTEXT, LLAMA_MODEL_TYPES, ModelConfigSchema, ShardIndexSchema } from './validate/schemas.ts';

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';
export const WEIGHTS_INDEX_FILE = 'model.safetensors.index.json';
export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';

/** `config.json` in Hugging Face GPT-2 format, plus an `rlhfc` block for our own fields. */
export interface Gpt2Config {
  model_type: 'gpt2';
  architectures: string[];
  vocab_size: number;
  n_positions: number;
  n_embd: number;
  n_layer: number;
  n_head: number;
  n_inner: number | null;
  activation_function: string;
  resid_pdrop: number;
  embd_pdrop: number;
  attn_pdrop: number;
  layer_norm_epsilon: number;
  bos_token_id?: number;
  eos_token_id?: number;
  /** Reward models (GPT2ForSequenceClassification): number of score outputs. */
  num_labels?: number;
  rlhfc?: { version: 1; kind?: 'causal_lm' | 'reward_model'; [key: string]: unknown };
  [key: string]: unknown;
}

export type LlamaModelType = (typeof LLAMA_MODEL_TYPES)[number];

/** `config.json` of a Llama, Qwen2, Qwen3 or Mistral model (transformers' names; other fields kept as they are). */
export interface LlamaHfConfig {
  model_type: LlamaModelType;
  architectures?: string[] | null;
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads?: number | null;
  head_dim?: number | null;
  max_position_embeddings?: number;
  rms_norm_eps?: number;
  tie_word_embeddings?: boolean;
  num_labels?: number;
  rlhfc?: { version: 1; kind?: 'causal_lm' | 'reward_model'; [key: string]: unknown };
  [key: string]: unknown;
}

/** Any model config.json rlhfc loads. */
export type HfConfig = Gpt2Config | LlamaHfConfig;

export function isLlamaConfig(c: HfConfig): c is LlamaHfConfig {
  return (LLAMA_MODEL_TYPES as readonly string[]).includes(c.model_type);
}

/** The rope types rlhfc computes (runtime/model/llama.ts ropeFrequencies). */
export const ROPE_TYPES = ['default', 'linear', 'dynamic', 'llama3', 'yarn'] as const;

/** The dimensions and switches of a Llama-family config, with transformers 5.18's defaults for absent fields. */
export interface LlamaDims {
  family: LlamaModelType;
  vocabSize: number;
  width: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  context: number;
  rmsNormEps: number;
  tie: boolean;
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
  qkNorm: boolean;
  attentionDropout: number;
  /** Per layer: the sliding window, or undefined (full attention). */
  windows: (number | undefined)[];
  rope: { type: (typeof ROPE_TYPES)[number]; theta: number; factor?: number; originalMaxPositions?: number; lowFreqFactor?: number; highFreqFactor?: number; attentionFactor?: number; betaFast?: number; betaSlow?: number; mscale?: number; mscaleAllDim?: number; truncate?: boolean };
  numLabels: number;
}

/**
 * Read and check a Llama-family config: every field that changes the numbers is computed as
 * transformers 5.18 computes it, or refused with an error naming the field and its value.
 */
export function llamaDims(cfg: LlamaHfConfig, file = CONFIG_FILE): LlamaDims {
  const family = cfg.model_type;
  const num = (k: string) => cfg[k] as number | null | undefined;
  const heads = cfg.num_attention_heads;
  // transformers' defaults when the field is absent or null: Llama the query heads; Qwen2/Qwen3 32; Mistral 8
  const kvHeads = num('num_key_value_heads') ?? (family === 'llama' ? heads : family === 'mistral' ? 8 : 32);
  const headDim = num('head_dim') ?? (family === 'qwen3' && !('head_dim' in cfg) ? 128 : Math.floor(cfg.hidden_size / heads));
  if (heads % kvHeads !== 0) invalid(`${file}: num_attention_heads (${heads}) must be a multiple of num_key_value_heads (${kvHeads})`);
  if (headDim % 2 !== 0) invalid(`${file}: head_dim ${headDim} must be even (rotary embeddings rotate pairs)`);
  const act = cfg['hidden_act'] ?? 'silu';
  if (act !== 'silu' && act !== 'swish') invalid(`${file}: hidden_act is ${JSON.stringify(act)}; rlhfc computes the ${family} MLP only with "silu" (SwiGLU)`);
  const refuse = (field: string, ok: (v: unknown) => boolean, why: string) => {
    if (field in cfg && cfg[field] !== undefined && cfg[field] !== null && !ok(cfg[field])) invalid(`${file}: ${field} is ${JSON.stringify(cfg[field])}; ${why}`);
  };
  refuse('pretraining_tp', (v) => v === 1, 'rlhfc supports only 1 (no tensor-parallel slicing of the projections)');
  refuse('partial_rotary_factor', (v) => v === 1, 'rlhfc rotates the whole head (1.0 only)');
  const context = cfg.max_position_embeddings ?? LLAMA_DEFAULT_CONTEXT[family];
  // rope: transformers 5 writes rope_parameters; older configs rope_theta + rope_scaling
  const rp = { ...((cfg['rope_scaling'] as Record<string, unknown> | null | undefined) ?? {}), ...((cfg['rope_parameters'] as Record<string, unknown> | null | undefined) ?? {}) };
  const type = (rp['rope_type'] ?? rp['type'] ?? 'default') as string;
  const ropeField = cfg['rope_parameters'] ? 'rope_parameters' : 'rope_scaling';
  if (!(ROPE_TYPES as readonly string[]).includes(type)) invalid(`${file}: ${ropeField}.rope_type is ${JSON.stringify(type)}; rlhfc computes only ${ROPE_TYPES.map((t) => JSON.stringify(t)).join(', ')}`);
  if ('partial_rotary_factor' in rp && rp['partial_rotary_factor'] !== 1 && rp['partial_rotary_factor'] !== null) invalid(`${file}: ${ropeField}.partial_rotary_factor is ${JSON.stringify(rp['partial_rotary_factor'])}; rlhfc rotates the whole head (1.0 only)`);
  const theta = (rp['rope_theta'] ?? cfg['rope_theta'] ?? 10000) as number;
  const n = (k: string) => (typeof rp[k] === 'number' ? (rp[k] as number) : undefined);
  const factor = n('factor');
  if (type !== 'default' && type !== 'yarn' && !(factor !== undefined && factor >= 1)) invalid(`${file}: ${ropeField}.factor must be a number ≥ 1 for rope_type "${type}", got ${JSON.stringify(rp['factor'])}`);
  if (type === 'llama3' && (n('low_freq_factor') === undefined || n('high_freq_factor') === undefined)) invalid(`${file}: ${ropeField} of rope_type "llama3" needs low_freq_factor and high_freq_factor`);
  const original = n('original_max_position_embeddings') ?? (typeof cfg['original_max_position_embeddings'] === 'number' ? (cfg['original_max_position_embeddings'] as number) : undefined);
  const rope: LlamaDims['rope'] = {
    type: type as LlamaDims['rope']['type'],
    theta,
    ...(factor !== undefined ? { factor } : {}),
    ...(type === 'yarn' && factor === undefined ? { factor: context / (original ?? context) } : {}),
    ...(original !== undefined ? { originalMaxPositions: original } : {}),
    ...(n('low_freq_factor') !== undefined ? { lowFreqFactor: n('low_freq_factor') } : {}),
    ...(n('high_freq_factor') !== undefined ? { highFreqFactor: n('high_freq_factor') } : {}),
    ...(n('attention_factor') !== undefined ? { attentionFactor: n('attention_factor') } : {}),
    ...(n('beta_fast') !== undefined ? { betaFast: n('beta_fast') } : {}),
    ...(n('beta_slow') !== undefined ? { betaSlow: n('beta_slow') } : {}),
    ...(n('mscale') !== undefined ? { mscale: n('mscale') } : {}),
    ...(n('mscale_all_dim') !== undefined ? { mscaleAllDim: n('mscale_all_dim') } : {}),
    ...(typeof rp['truncate'] === 'boolean' ? { truncate: rp['truncate'] as boolean } : {}),
  };
  // sliding windows: Mistral on every layer; Qwen only with use_sliding_window, on its sliding_attention layers
  const layers = cfg.num_hidden_layers;
  let windows: (number | undefined)[] = Array.from({ length: layers }, () => undefined);
  const sw = 'sliding_window' in cfg ? num('sliding_window') : family === 'mistral' ? 4096 : undefined;
  if (family === 'mistral' && sw) windows = windows.map(() => sw);
  if ((family === 'qwen2' || family === 'qwen3') && cfg['use_sliding_window'] === true && sw) {
    const types = (cfg['layer_types'] as string[] | null | undefined) ?? Array.from({ length: layers }, (_, i) => (i >= ((cfg['max_window_layers'] as number | undefined) ?? 28) ? 'sliding_attention' : 'full_attention'));
    if (types.length !== layers) invalid(`${file}: layer_types lists ${types.length} layers but num_hidden_layers is ${layers}`);
    windows = types.map((t) => (t === 'sliding_attention' ? sw : undefined));
  }
  if (family === 'llama' && Array.isArray(cfg['layer_types']) && (cfg['layer_types'] as string[]).some((t) => t !== 'full_attention')) invalid(`${file}: layer_types ${JSON.stringify(cfg['layer_types'])}; a llama model has full attention on every layer`);
  const attentionBias = cfg['attention_bias'] === true;
  return {
    family,
    vocabSize: cfg.vocab_size,
    width: cfg.hidden_size,
    intermediate: cfg.intermediate_size,
    layers,
    heads,
    kvHeads,
    headDim,
    context,
    rmsNormEps: cfg.rms_norm_eps ?? 1e-6,
    tie: cfg.tie_word_embeddings ?? false,
    qkvBias: family === 'qwen2' || ((family === 'llama' || family === 'qwen3') && attentionBias),
    oBias: (family === 'llama' || family === 'qwen3') && attentionBias,
    mlpBias: family === 'llama' && cfg['mlp_bias'] === true,
    qkNorm: family === 'qwen3',
    attentionDropout: (cfg['attention_dropout'] as number | undefined) ?? 0,
    windows,
    rope,
    numLabels: cfg.num_labels ?? 1,
  };
}

/** The required body tensors of a Llama-family model and their shapes (nn.Linear [out, in]). */
function llamaShapes(d: LlamaDims): Map<string, number[]> {
  const { width: C, intermediate: I, heads: H, kvHeads: K, headDim: D } = d;
  const m = new Map<string, number[]>();
  m.set('model.embed_tokens.weight', [d.vocabSize, C]);
  for (let i = 0; i < d.layers; i++) {
    const p = `model.layers.${i}.`;
    const lin = (name: string, out: number, inp: number, bias: boolean) => {
      m.set(p + name + '.weight', [out, inp]);
      if (bias) m.set(p + name + '.bias', [out]);
    };
    m.set(p + 'input_layernorm.weight', [C]);
    lin('self_attn.q_proj', H * D, C, d.qkvBias);
    lin('self_attn.k_proj', K * D, C, d.qkvBias);
    lin('self_attn.v_proj', K * D, C, d.qkvBias);
    lin('self_attn.o_proj', C, H * D, d.oBias);
    if (d.qkNorm) {
      m.set(p + 'self_attn.q_norm.weight', [D]);
      m.set(p + 'self_attn.k_norm.weight', [D]);
    }
    m.set(p + 'post_attention_layernorm.weight', [C]);
    lin('mlp.gate_proj', I, C, d.mlpBias);
    lin('mlp.up_proj', I, C, d.mlpBias);
    lin('mlp.down_proj', C, I, d.mlpBias);
  }
  m.set('model.norm.weight', [C]);
  return m;
}

/** A weight: a shaped Float32Array, or anything tensor-like (tf.Tensor / tf.Variable). */
export interface Weight {
  shape: number[];
  data: Float32Array;
}
export interface TensorLike {
  shape: number[];
  dtype: string;
  dataSync(): ArrayLike<number>;
  /** Read asynchronously (on webgpu there is no synchronous read in Node). */
  data(): Promise<ArrayLike<number>>;
}
export type WeightInput = Weight | TensorLike;

export interface ModelArchitecture {
  vocabSize: number;
  context: number;
  layers: number;
  heads: number;
  width: number;
  dropout?: number;
  eosId?: number;
  /** Padding id: written as pad_token_id for reward models (transformers needs it to score a padded batch; Tokenizer.scorePad). */
  padId?: number;
  kind?: 'causal_lm' | 'reward_model';
}

/** A GPT-2 `config.json` for the given architecture (HF defaults for everything else). */
export function gpt2Config(a: ModelArchitecture): Gpt2Config {
  const p = a.dropout ?? 0;
  return {
    model_type: 'gpt2',
    architectures: [a.kind === 'reward_model' ? 'GPT2ForSequenceClassification' : 'GPT2LMHeadModel'],
    vocab_size: a.vocabSize,
    n_positions: a.context,
    n_ctx: a.context,
    n_embd: a.width,
    n_layer: a.layers,
    n_head: a.heads,
    n_inner: null,
    activation_function: 'gelu_new',
    resid_pdrop: p,
    embd_pdrop: p,
    attn_pdrop: p,
    layer_norm_epsilon: 1e-5,
    ...(a.eosId !== undefined ? { bos_token_id: a.eosId, eos_token_id: a.eosId } : {}),
    ...(a.kind === 'reward_model' ? { num_labels: 1 } : {}),
    ...(a.kind === 'reward_model' && (a.padId ?? a.eosId) !== undefined ? { pad_token_id: a.padId ?? a.eosId } : {}),
    rlhfc: { version: 1, kind: a.kind ?? 'causal_lm' },
  };
}

const invalid = (message: string, notes?: string[]): never => {
  throw new UserError([diag('RLHF9003', message, undefined, notes ? { notes } : {})]);
};

function checkConfig(c: unknown, file: string): HfConfig {
  if (!c || typeof c !== 'object') return invalid(`${file}: not a JSON object`);
  if (isLlamaConfig(c as HfConfig)) {
    llamaDims(c as LlamaHfConfig, file);
    return c as LlamaHfConfig;
  }
  const cfg = c as Gpt2Config;
  if (cfg.model_type !== 'gpt2') invalid(`${file}: model_type is ${JSON.stringify(cfg.model_type)}, only "gpt2", ${LLAMA_MODEL_TYPES.map((t) => JSON.stringify(t)).join(', ')} are supported`);
  for (const k of ['vocab_size', 'n_positions', 'n_embd', 'n_layer', 'n_head'] as const) {
    if (!Number.isInteger(cfg[k]) || cfg[k] <= 0) invalid(`${file}: ${k} must be a positive integer, got ${JSON.stringify(cfg[k])}`);
  }
  if (cfg.n_embd % cfg.n_head !== 0) invalid(`${file}: n_embd (${cfg.n_embd}) must be divisible by n_head (${cfg.n_head})`);
  if (cfg.n_inner !== null && cfg.n_inner !== undefined && (!Number.isInteger(cfg.n_inner) || cfg.n_inner <= 0)) invalid(`${file}: n_inner must be null or a positive integer`);
  // Config fields that change the numbers: each is computed as transformers does, or refused by name.
  if (cfg.activation_function !== undefined && !(ACTIVATION_NAMES as readonly string[]).includes(cfg.activation_function)) {
    invalid(`${file}: activation_function ${JSON.stringify(cfg.activation_function)} is not supported`, [`supported: ${ACTIVATION_NAMES.join(', ')}`]);
  }
  if (cfg.layer_norm_epsilon !== undefined && !(typeof cfg.layer_norm_epsilon === 'number' && cfg.layer_norm_epsilon > 0)) invalid(`${file}: layer_norm_epsilon must be a positive number, got ${JSON.stringify(cfg.layer_norm_epsilon)}`);
  const refuse = (field: string, value: unknown, why: string) => {
    if (field in cfg && cfg[field] !== undefined && cfg[field] !== null && cfg[field] !== value) invalid(`${file}: ${field} is ${JSON.stringify(cfg[field])}; rlhfc supports only ${JSON.stringify(value)} (${why})`);
  };
  refuse('scale_attn_weights', true, 'attention scores scaled by 1/√head_dim');
  refuse('scale_attn_by_inverse_layer_idx', false, 'no extra per-layer attention scaling');
  refuse('add_cross_attention', false, 'a decoder-only model');
  return cfg;
}

/** The required body tensors and their shapes for a config. */
export function expectedShapes(cfg: HfConfig): Map<string, number[]> {
  if (isLlamaConfig(cfg)) return llamaShapes(llamaDims(cfg));
  const C = cfg.n_embd;
  const H = cfg.n_inner ?? 4 * C;
  const m = new Map<string, number[]>();
  m.set('transformer.wte.weight', [cfg.vocab_size, C]);
  m.set('transformer.wpe.weight', [cfg.n_positions, C]);
  for (let i = 0; i < cfg.n_layer; i++) {
    const p = `transformer.h.${i}.`;
    m.set(p + 'ln_1.weight', [C]);
    m.set(p + 'ln_1.bias', [C]);
    m.set(p + 'attn.c_attn.weight', [C, 3 * C]);
    m.set(p + 'attn.c_attn.bias', [3 * C]);
    m.set(p + 'attn.c_proj.weight', [C, C]);
    m.set(p + 'attn.c_proj.bias', [C]);
    m.set(p + 'ln_2.weight', [C]);
    m.set(p + 'ln_2.bias', [C]);
    m.set(p + 'mlp.c_fc.weight', [C, H]);
    m.set(p + 'mlp.c_fc.bias', [H]);
    m.set(p + 'mlp.c_proj.weight', [H, C]);
    m.set(p + 'mlp.c_proj.bias', [C]);
  }
  m.set('transformer.ln_f.weight', [C]);
  m.set('transformer.ln_f.bias', [C]);
  return m;
}

/** Optional head tensors (value head of TRL's AutoModelForCausalLMWithValueHead, reward score, untied lm_head). */
export function optionalShapes(cfg: HfConfig): Map<string, number[]> {
  const C = isLlamaConfig(cfg) ? cfg.hidden_size : cfg.n_embd;
  const heads: [string, number[]][] = [
    ['v_head.summary.weight', [1, C]],
    ['v_head.summary.bias', [1]],
    ['score.weight', [cfg.num_labels ?? 1, C]],
  ];
  // untied: lm_head (required unless the folder is a reward model, *ForSequenceClassification, which has none)
  if (isLlamaConfig(cfg)) return new Map([...heads, ...(llamaDims(cfg).tie ? [] : [['lm_head.weight', [cfg.vocab_size, C]] as [string, number[]]])]);
  return new Map([
    ['v_head.summary.weight', [1, C]],
    ['v_head.summary.bias', [1]],
    ['score.weight', [cfg.num_labels ?? 1, C]],
    ['lm_head.weight', [cfg.vocab_size, C]],
  ]);
}

const BODY = /^(wte|wpe|h\.\d+|ln_f)\./;
const LLAMA_BODY = /^(embed_tokens|layers\.\d+|norm)\./;
const BUFFER = /^transformer\.h\.\d+\.attn\.(bias|masked_bias)$/;

/**
 * Map a name as saved by HF for a bare body (GPT2Model: `h.0.ln_1.weight`; LlamaModel: `layers.0.mlp.up_proj.weight`)
 * to ours (`transformer.h.0.ln_1.weight`, `model.layers.0.mlp.up_proj.weight`).
 */
export function normalizeWeightName(name: string, llama = false): string {
  if (llama) return LLAMA_BODY.test(name) ? `model.${name}` : name;
  return BODY.test(name) ? `transformer.${name}` : name;
}

async function toWeight(name: string, w: WeightInput): Promise<Weight> {
  if ('dataSync' in w) {
    if (w.dtype !== 'float32') throw new Error(`weight '${name}' has dtype ${w.dtype}; only float32 is saved`);
    const d = await w.data();
    return { shape: [...w.shape], data: d instanceof Float32Array ? d : Float32Array.from(d) };
  }
  if (!(w.data instanceof Float32Array)) throw new Error(`weight '${name}' is not a Float32Array`);
  if (numel(w.shape) !== w.data.length) throw new Error(`weight '${name}': shape [${w.shape}] does not match ${w.data.length} values`);
  return w;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Check names and shapes of a (normalized) weight map against a config: clear errors listing every problem. */
export function checkWeights(weights: Map<string, Weight>, cfg: HfConfig, where: string): void {
  const what = isLlamaConfig(cfg) ? `a ${cfg.model_type} model with num_hidden_layers=${cfg.num_hidden_layers}` : `a GPT-2 with n_layer=${cfg.n_layer}`;
  const expected = expectedShapes(cfg);
  const optional = optionalShapes(cfg);
  if (isLlamaConfig(cfg) && !llamaDims(cfg).tie && !weights.has('score.weight')) expected.set('lm_head.weight', [cfg.vocab_size, cfg.hidden_size]);
  const missing = [...expected.keys()].filter((k) => !weights.has(k));
  if (missing.length) {
    const shown = missing.slice(0, 20).map((k) => `${k} [${expected.get(k)}]`);
    if (missing.length > 20) shown.push(`... and ${missing.length - 20} more`);
    invalid(`${where}: ${missing.length} tensor${missing.length === 1 ? '' : 's'} missing for ${what}`, shown);
  }
  const wrong: string[] = [];
  const unknown: string[] = [];
  for (const [name, w] of weights) {
    const shape = expected.get(name) ?? optional.get(name);
    if (!shape) unknown.push(name);
    else if (!sameShape(shape, w.shape)) wrong.push(`${name}: expected [${shape}], got [${w.shape}]`);
  }
  if (wrong.length) invalid(`${where}: ${wrong.length} tensor${wrong.length === 1 ? ' has' : 's have'} the wrong shape for the config`, wrong);
  if (unknown.length) invalid(`${where}: unexpected tensor${unknown.length === 1 ? '' : 's'} for ${isLlamaConfig(cfg) ? `a ${cfg.model_type}` : 'a GPT-2'} model`, unknown.slice(0, 20));
}

/** Write a folder atomically: `fill` writes into a temporary sibling folder, which then replaces `dir`. */
export async function writeDirAtomic(dir: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  const target = resolve(dir);
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmp = `${target}.tmp-${tag}`;
  await mkdir(tmp, { recursive: true });
  try {
    await fill(tmp);
    let exists = false;
    try {
      exists = (await stat(target)).isDirectory();
    } catch {
      exists = false;
    }
    if (exists) {
      const old = `${target}.old-${tag}`;
      await rename(target, old);
      await rename(tmp, target);
      await rm(old, { recursive: true, force: true });
    } else await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

export interface SavedModel {
  config: HfConfig;
  weights: Map<string, WeightInput>;
  tokenizer?: Tokenizer;
}

export interface LoadedModel {
  config: HfConfig;
  /** Normalized HF names → shaped Float32Arrays (buffers and a tied lm_head dropped). */
  weights: Map<string, Weight>;
  tokenizer?: Tokenizer;
  metadata: Record<string, string>;
}

/** Save config.json + model.safetensors (+ tokenizer) into `dir`, atomically. Shapes are checked first. */
export async function saveModel(dir: string, m: SavedModel): Promise<void> {
  const config = checkConfig(m.config, `${dir}/${CONFIG_FILE}`);
  const weights = new Map<string, Weight>();
  for (const [name, w] of m.weights) weights.set(name, await toWeight(name, w));
  checkWeights(weights, config, dir);
  await writeDirAtomic(dir, async (tmp) => {
    await writeFileAtomic(join(tmp, CONFIG_FILE), JSON.stringify(config, null, 2) + '\n');
    await writeSafetensors(join(tmp, WEIGHTS_FILE), weights, { format: 'pt' });
    if (m.tokenizer) {
      await m.tokenizer.save(tmp);
      // a reward model pads with a token no text encodes to (see Tokenizer.scorePad), so transformers scores rlhfc's last token
      const pad = config['pad_token_id'];
      if (typeof pad === 'number' && pad !== m.tokenizer.padId) {
        if (pad !== m.tokenizer.scorePad.id) invalid(`${dir}: pad_token_id ${pad} is neither the tokenizer's pad id (${m.tokenizer.padId}) nor its scoring pad (${m.tokenizer.scorePad.id})`);
        await setPadToken(tmp, m.tokenizer.scorePad.token);
      }
    }
  });
}

async function readJson(path: string, schema: z.ZodType, what: string): Promise<unknown> {
  return readValidated(path, schema, { what, code: 'RLHF9003', fix: 'the folder is damaged or not a checkpoint rlhfc can load (GPT-2, Llama, Qwen2, Qwen3, Mistral): restore or re-export it' });
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Load a model folder saved by `saveModel` or by HF `transformers` (GPT2LMHeadModel / GPT2Model /
 * GPT2ForSequenceClassification): names normalized, `attn.bias`/`attn.masked_bias` buffers and a tied
 * `lm_head.weight` dropped, shapes checked against config.json. Loads the tokenizer when the folder has one.
 */
export async function loadModel(dir: string): Promise<LoadedModel> {
  const config = checkConfig(await readJson(join(dir, CONFIG_FILE), ModelConfigSchema, 'model config'), join(dir, CONFIG_FILE));
  const llama = isLlamaConfig(config);
  const files = await weightFiles(dir);
  const file = files.length === 1 ? files[0] : join(dir, WEIGHTS_INDEX_FILE);
  const weights = new Map<string, Weight>();
  const metadata: Record<string, string> = {};
  for (const f of files) {
    const st = await readSafetensors(f);
    Object.assign(metadata, st.metadata);
    for (const [raw, t] of st.tensors) {
      const name = normalizeWeightName(raw, llama);
      if (!llama && BUFFER.test(name)) continue;
      if (t.dtype !== 'F32') invalid(`${f}: tensor '${raw}' has dtype ${t.dtype}; weights must be floating point`);
      if (weights.has(name)) invalid(`${f}: tensor '${name}' appears twice (as '${raw}' and ${llama ? "with/without the 'model.' prefix, or in two shards" : "with/without the 'transformer.' prefix"})`);
      weights.set(name, { shape: t.shape, data: t.data as Float32Array });
    }
  }
  const embedName = llama ? 'model.embed_tokens.weight' : 'transformer.wte.weight';
  const tied = llama ? llamaDims(config).tie : true;
  const lm = weights.get('lm_head.weight');
  if (lm && tied) {
    const wte = weights.get(embedName);
    if (!wte) weights.set(embedName, lm); // tied weights saved under the head's name only
    if (!wte || (sameShape(wte.shape, lm.shape) && bitEqual(wte.data, lm.data))) weights.delete('lm_head.weight');
    else if (llama) invalid(`${file}: lm_head.weight differs from model.embed_tokens.weight but config.json has tie_word_embeddings: true`, ['set tie_word_embeddings to false to load the separate head']);
    else
      invalid(`${file}: lm_head.weight differs from the token embeddings (config.json tie_word_embeddings: ${JSON.stringify(config['tie_word_embeddings'] ?? null)}); rlhfc's GPT ties its LM head to the embeddings`, [
        'save the model with tie_word_embeddings: true, or copy transformer.wte.weight into lm_head.weight',
      ]);
  }
  checkWeights(weights, config, file);
  for (const [name, w] of weights) {
    const bad = w.data.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) invalid(`${file}: tensor '${name}' holds a non-finite value (${w.data[bad]}) at index ${bad}; the weights are damaged`);
  }
  let tokenizer: Tokenizer | undefined;
  if ((await exists(join(dir, TOKENIZER_FILE))) || (await exists(join(dir, MANIFEST_FILE)))) {
    tokenizer = await loadTokenizer(dir);
  }
  return { config, weights, tokenizer, metadata };
}

/**
 * The safetensors files of a model folder: model.safetensors, or the shards that
 * model.safetensors.index.json maps the tensors to (plain file names inside the folder).
 */
async function weightFiles(dir: string): Promise<string[]> {
  const single = join(dir, WEIGHTS_FILE);
  const indexPath = join(dir, WEIGHTS_INDEX_FILE);
  if ((await exists(single)) || !(await exists(indexPath))) return [single];
  const index = (await readValidated(indexPath, ShardIndexSchema, { what: 'weights index', code: 'RLHF9003', fix: 'the index must map every tensor name to a shard file in the folder' })) as { weight_map: Record<string, string> };
  const shards = [...new Set(Object.values(index.weight_map))].sort();
  if (shards.length === 0) invalid(`${indexPath}: weight_map lists no shard files`);
  for (const s of shards) if (s.includes('/') || s.includes('\\') || s.startsWith('.') || !s.endsWith('.safetensors')) invalid(`${indexPath}: shard ${JSON.stringify(s)} is not a .safetensors file name inside the folder`);
  return shards.map((s) => join(dir, s));
}

function bitEqual(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

// ---- LoRA adapters (PEFT layout) --------------------------------------------------------------

/** PEFT's `adapter_config.json` (the fields we read and write; others are preserved on load). */
export interface AdapterConfig {
  peft_type: 'LORA';
  task_type: string;
  r: number;
  lora_alpha: number;
  lora_dropout: number;
  target_modules: string[];
  base_model_name_or_path: string | null;
  bias: 'none';
  fan_in_fan_out: boolean;
  inference_mode: boolean;
  modules_to_save?: string[] | null;
  [key: string]: unknown;
}

export function loraConfig(o: { r: number; alpha: number; dropout: number; targetModules: string[]; baseModel: string | null; taskType?: string; fanInFanOut?: boolean }): AdapterConfig {
  return {
    peft_type: 'LORA',
    task_type: o.taskType ?? 'CAUSAL_LM',
    r: o.r,
    lora_alpha: o.alpha,
    lora_dropout: o.dropout,
    target_modules: o.targetModules,
    base_model_name_or_path: o.baseModel,
    bias: 'none',
    fan_in_fan_out: o.fanInFanOut ?? true, // GPT-2's Conv1D stores weights as [in, out]; nn.Linear (Llama family) as [out, in]: false
    inference_mode: true,
    modules_to_save: null,
  };
}

const LORA_NAME = /^base_model\.model\.transformer\.h\.(\d+)\.((?:attn|mlp)\.(?:c_attn|c_proj|c_fc))\.lora_(A|B)\.weight$/;
const LLAMA_LORA_NAME = /^base_model\.model\.model\.layers\.(\d+)\.((?:self_attn\.(?:q_proj|k_proj|v_proj|o_proj))|(?:mlp\.(?:gate_proj|up_proj|down_proj)))\.lora_(A|B)\.weight$/;

/** [in, out] of a module, for checking adapter shapes against a base config. */
function moduleDims(cfg: HfConfig, module: string): [number, number] {
  if (isLlamaConfig(cfg)) {
    const d = llamaDims(cfg);
    const dims: Record<string, [number, number]> = {
      'self_attn.q_proj': [d.width, d.heads * d.headDim],
      'self_attn.k_proj': [d.width, d.kvHeads * d.headDim],
      'self_attn.v_proj': [d.width, d.kvHeads * d.headDim],
      'self_attn.o_proj': [d.heads * d.headDim, d.width],
      'mlp.gate_proj': [d.width, d.intermediate],
      'mlp.up_proj': [d.width, d.intermediate],
      'mlp.down_proj': [d.intermediate, d.width],
    };
    return dims[module];
  }
  const C = cfg.n_embd;
  const H = cfg.n_inner ?? 4 * C;
  if (module === 'attn.c_attn') return [C, 3 * C];
  if (module === 'attn.c_proj') return [C, C];
  if (module === 'mlp.c_fc') return [C, H];
  return [H, C];
}

/**
 * Check adapter tensors: names in PEFT form, lora_A [r, in] and lora_B [out, r], A and B in pairs, modules
 * among target_modules; with a base config also in/out sizes and layer indices.
 */
export function checkAdapter(weights: Map<string, Weight>, cfg: AdapterConfig, where: string, base?: HfConfig): void {
  if (!Number.isInteger(cfg.r) || cfg.r <= 0) invalid(`${where}: adapter r must be a positive integer, got ${JSON.stringify(cfg.r)}`);
  const problems: string[] = [];
  const seen = new Set<string>();
  const patterns = base ? [isLlamaConfig(base) ? LLAMA_LORA_NAME : LORA_NAME] : [LORA_NAME, LLAMA_LORA_NAME];
  const layers = base ? (isLlamaConfig(base) ? base.num_hidden_layers : base.n_layer) : Infinity;
  for (const [name, w] of weights) {
    const m = patterns.map((p) => p.exec(name)).find((x) => x);
    if (!m) {
      if (!name.startsWith('base_model.model.')) problems.push(`${name}: not a PEFT LoRA tensor name`);
      continue; // modules_to_save copies
    }
    const [, layer, module, ab] = m;
    const short = module.split('.')[1];
    if (!cfg.target_modules.includes(short) && !cfg.target_modules.includes(module)) problems.push(`${name}: module '${module}' is not in target_modules [${cfg.target_modules}]`);
    const [din, dout] = base ? moduleDims(base, module) : [NaN, NaN];
    const expected = ab === 'A' ? [cfg.r, din] : [dout, cfg.r];
    const ok = w.shape.length === 2 && expected.every((d, i) => Number.isNaN(d) || d === w.shape[i]);
    if (!ok) problems.push(`${name}: expected [${expected.map((d) => (Number.isNaN(d) ? '?' : d))}], got [${w.shape}]`);
    if (Number(layer) >= layers) problems.push(`${name}: layer ${layer} but the base model has ${layers} layers`);
    seen.add(name);
  }
  for (const name of seen) {
    const other = name.replace(/lora_(A|B)/, (_, x) => `lora_${x === 'A' ? 'B' : 'A'}`);
    if (!seen.has(other)) problems.push(`${name}: its partner ${other} is missing`);
  }
  if (seen.size === 0) problems.push('no LoRA tensors');
  if (problems.length) invalid(`${where}: invalid LoRA adapter`, problems.slice(0, 20));
}

export interface SavedAdapter {
  config: AdapterConfig;
  weights: Map<string, WeightInput>;
  /** Optionally saved beside the adapter (as PEFT users often do). */
  tokenizer?: Tokenizer;
}

/** Save adapter_config.json + adapter_model.safetensors into `dir`, atomically. */
export async function saveAdapter(dir: string, a: SavedAdapter, base?: HfConfig): Promise<void> {
  const weights = new Map<string, Weight>();
  for (const [name, w] of a.weights) weights.set(name, await toWeight(name, w));
  checkAdapter(weights, a.config, dir, base);
  await writeDirAtomic(dir, async (tmp) => {
    await writeFileAtomic(join(tmp, ADAPTER_CONFIG_FILE), JSON.stringify(a.config, null, 2) + '\n');
    await writeSafetensors(join(tmp, ADAPTER_WEIGHTS_FILE), weights, { format: 'pt' });
    if (a.tokenizer) await a.tokenizer.save(tmp);
  });
}

/** Load an adapter folder (ours or PEFT's); with `base`, shapes are checked against the base model too. */
export async function loadAdapter(dir: string, base?: HfConfig): Promise<{ config: AdapterConfig; weights: Map<string, Weight> }> {
  const cfgPath = join(dir, ADAPTER_CONFIG_FILE);
  const config = (await readJson(cfgPath, AdapterConfigSchema, 'adapter config')) as AdapterConfig;
  if (!config || config.peft_type !== 'LORA') invalid(`${cfgPath}: peft_type must be "LORA", got ${JSON.stringify(config?.peft_type)}`);
  if (!Array.isArray(config.target_modules)) invalid(`${cfgPath}: target_modules must be a list of module names`);
  const file = join(dir, ADAPTER_WEIGHTS_FILE);
  const st = await readSafetensors(file);
  const weights = new Map<string, Weight>();
  for (const [name, t] of st.tensors) {
    if (t.dtype !== 'F32') invalid(`${file}: tensor '${name}' has dtype ${t.dtype}; weights must be floating point`);
    weights.set(name, { shape: t.shape, data: t.data as Float32Array });
  }
  checkAdapter(weights, config, file, base);
  for (const [name, w] of weights) {
    const bad = w.data.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) invalid(`adapter folder ${dir}: ${file}: tensor '${name}' holds a non-finite value (${w.data[bad]}) at index ${bad}; the adapter weights are damaged`);
  }
  return { config, weights };
}

export interface LoadedCheckpoint extends LoadedModel {
  /** Set when `dir` is an adapter folder: the LoRA weights; `config`/`weights` are then the base model's. */
  adapter?: { config: AdapterConfig; weights: Map<string, Weight> };
  /** The base model folder an adapter was loaded against. */
  baseDir?: string;
}

/** True when `dir` holds a LoRA adapter (adapter_config.json) rather than full weights. */
export async function isAdapterFolder(dir: string): Promise<boolean> {
  return exists(join(dir, ADAPTER_CONFIG_FILE));
}

/**
 * The base folder an adapter names: relative paths resolve against the adapter folder; an absolute
 * one (what rlhfc writes, so that PEFT opens it from any working directory) that no longer exists
 * because the store was moved is looked up at the same place relative to the adapter's own store
 * (`<store>/nodes/<hash>/model` → the same `nodes/<hash>/model` under the store the adapter is in).
 */
async function findBase(dir: string, ref: string): Promise<string> {
  const named = resolve(dir, ref);
  if (!isAbsolute(ref) || (await exists(join(named, CONFIG_FILE)))) return named;
  const parts = named.split(sep).filter(Boolean);
  let up = resolve(dir);
  for (let k = 1; k <= Math.min(4, parts.length); k++) {
    up = dirname(up);
    const moved = join(up, ...parts.slice(parts.length - k));
    if (await exists(join(moved, CONFIG_FILE))) return moved;
  }
  return named;
}

/**
 * Load a model folder or an adapter folder. For an adapter, `base_model_name_or_path` must name the base
 * model folder (see findBase); the base is loaded and the adapter
 * checked against it. The tokenizer comes from the adapter folder when it has one, else from the base.
 */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  if (!(await isAdapterFolder(dir))) return loadModel(dir);
  const cfg = (await readJson(join(dir, ADAPTER_CONFIG_FILE), AdapterConfigSchema, 'adapter config')) as AdapterConfig;
  const ref = cfg?.base_model_name_or_path;
  if (typeof ref !== 'string' || !ref) invalid(`${join(dir, ADAPTER_CONFIG_FILE)}: base_model_name_or_path must name the base model folder`);
  const baseDir = await findBase(dir, ref as string);
  if (!(await exists(join(baseDir, CONFIG_FILE)))) {
    invalid(`${join(dir, ADAPTER_CONFIG_FILE)}: base model folder '${ref}' (${baseDir}) has no ${CONFIG_FILE}; model hubs are not reachable, so the base must be a local folder`);
  }
  const base = await loadModel(baseDir);
  const adapter = await loadAdapter(dir, base.config);
  const hasOwnTokenizer = (await exists(join(dir, TOKENIZER_FILE))) || (await exists(join(dir, MANIFEST_FILE)));
  const tokenizer = hasOwnTokenizer ? await loadTokenizer(dir) : base.tokenizer;
  return { ...base, tokenizer, adapter, baseDir };
}
