// Model and adapter checkpoints in Hugging Face layout:
//   model:   config.json (GPT-2 format) + model.safetensors (+ tokenizer files)
//   adapter: adapter_config.json (PEFT LoRA format) + adapter_model.safetensors
// Weight names are the exact HF GPT-2 names (`transformer.h.0.attn.c_attn.weight`, Conv1D layout [in, out]).
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
import { AdapterConfigSchema, Gpt2ConfigSchema } from './validate/schemas.ts';

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';
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

function checkConfig(c: unknown, file: string): Gpt2Config {
  if (!c || typeof c !== 'object') return invalid(`${file}: not a JSON object`);
  const cfg = c as Gpt2Config;
  if (cfg.model_type !== 'gpt2') invalid(`${file}: model_type is ${JSON.stringify(cfg.model_type)}, only "gpt2" is supported`);
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

/** The required GPT-2 body tensors and their shapes for a config. */
export function expectedShapes(cfg: Gpt2Config): Map<string, number[]> {
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
export function optionalShapes(cfg: Gpt2Config): Map<string, number[]> {
  const C = cfg.n_embd;
  return new Map([
    ['v_head.summary.weight', [1, C]],
    ['v_head.summary.bias', [1]],
    ['score.weight', [cfg.num_labels ?? 1, C]],
    ['lm_head.weight', [cfg.vocab_size, C]],
  ]);
}

const BODY = /^(wte|wpe|h\.\d+|ln_f)\./;
const BUFFER = /^transformer\.h\.\d+\.attn\.(bias|masked_bias)$/;

/** Map a name as saved by HF (`h.0.ln_1.weight`, `wte.weight`) to ours (`transformer.h.0.ln_1.weight`). */
export function normalizeWeightName(name: string): string {
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
export function checkWeights(weights: Map<string, Weight>, cfg: Gpt2Config, where: string): void {
  const expected = expectedShapes(cfg);
  const optional = optionalShapes(cfg);
  const missing = [...expected.keys()].filter((k) => !weights.has(k));
  if (missing.length) {
    const shown = missing.slice(0, 20).map((k) => `${k} [${expected.get(k)}]`);
    if (missing.length > 20) shown.push(`... and ${missing.length - 20} more`);
    invalid(`${where}: ${missing.length} tensor${missing.length === 1 ? '' : 's'} missing for a GPT-2 with n_layer=${cfg.n_layer}`, shown);
  }
  const wrong: string[] = [];
  const unknown: string[] = [];
  for (const [name, w] of weights) {
    const shape = expected.get(name) ?? optional.get(name);
    if (!shape) unknown.push(name);
    else if (!sameShape(shape, w.shape)) wrong.push(`${name}: expected [${shape}], got [${w.shape}]`);
  }
  if (wrong.length) invalid(`${where}: ${wrong.length} tensor${wrong.length === 1 ? ' has' : 's have'} the wrong shape for the config`, wrong);
  if (unknown.length) invalid(`${where}: unexpected tensor${unknown.length === 1 ? '' : 's'} for a GPT-2 model`, unknown.slice(0, 20));
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
  config: Gpt2Config;
  weights: Map<string, WeightInput>;
  tokenizer?: Tokenizer;
}

export interface LoadedModel {
  config: Gpt2Config;
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
  return readValidated(path, schema, { what, code: 'RLHF9003', fix: 'the folder is damaged or not a GPT-2 checkpoint rlhfc can load: restore or re-export it' });
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
  const config = checkConfig(await readJson(join(dir, CONFIG_FILE), Gpt2ConfigSchema, 'model config'), join(dir, CONFIG_FILE));
  const file = join(dir, WEIGHTS_FILE);
  const st = await readSafetensors(file);
  const weights = new Map<string, Weight>();
  for (const [raw, t] of st.tensors) {
    const name = normalizeWeightName(raw);
    if (BUFFER.test(name)) continue;
    if (t.dtype !== 'F32') invalid(`${file}: tensor '${raw}' has dtype ${t.dtype}; weights must be floating point`);
    if (weights.has(name)) invalid(`${file}: tensor '${name}' appears twice (as '${raw}' and with/without the 'transformer.' prefix)`);
    weights.set(name, { shape: t.shape, data: t.data as Float32Array });
  }
  const lm = weights.get('lm_head.weight');
  if (lm) {
    const wte = weights.get('transformer.wte.weight');
    if (!wte) weights.set('transformer.wte.weight', lm); // tied weights saved under the head's name only
    if (!wte || (sameShape(wte.shape, lm.shape) && bitEqual(wte.data, lm.data))) weights.delete('lm_head.weight');
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
  return { config, weights, tokenizer, metadata: st.metadata };
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

export function loraConfig(o: { r: number; alpha: number; dropout: number; targetModules: string[]; baseModel: string | null; taskType?: string }): AdapterConfig {
  return {
    peft_type: 'LORA',
    task_type: o.taskType ?? 'CAUSAL_LM',
    r: o.r,
    lora_alpha: o.alpha,
    lora_dropout: o.dropout,
    target_modules: o.targetModules,
    base_model_name_or_path: o.baseModel,
    bias: 'none',
    fan_in_fan_out: true, // GPT-2's Conv1D stores weights as [in, out]
    inference_mode: true,
    modules_to_save: null,
  };
}

const LORA_NAME = /^base_model\.model\.transformer\.h\.(\d+)\.((?:attn|mlp)\.(?:c_attn|c_proj|c_fc))\.lora_(A|B)\.weight$/;

/** [in, out] of a GPT-2 module, for checking adapter shapes against a base config. */
function moduleDims(cfg: Gpt2Config, module: string): [number, number] {
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
export function checkAdapter(weights: Map<string, Weight>, cfg: AdapterConfig, where: string, base?: Gpt2Config): void {
  if (!Number.isInteger(cfg.r) || cfg.r <= 0) invalid(`${where}: adapter r must be a positive integer, got ${JSON.stringify(cfg.r)}`);
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const [name, w] of weights) {
    const m = LORA_NAME.exec(name);
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
    if (base && Number(layer) >= base.n_layer) problems.push(`${name}: layer ${layer} but the base model has ${base.n_layer} layers`);
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
export async function saveAdapter(dir: string, a: SavedAdapter, base?: Gpt2Config): Promise<void> {
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
export async function loadAdapter(dir: string, base?: Gpt2Config): Promise<{ config: AdapterConfig; weights: Map<string, Weight> }> {
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
