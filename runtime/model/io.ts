// Models ⇄ checkpoint folders (runtime/hf-checkpoint.ts): full models in HF layout (GPT-2, or the
// Llama family: Llama, Qwen2, Qwen3, Mistral), LoRA adapters in PEFT layout.

import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { type Gpt2Config, gpt2Config, type HfConfig, isLlamaConfig, type LlamaHfConfig, llamaDims, type LlamaModelType, loadCheckpoint, loraConfig, saveAdapter, saveModel } from '../hf-checkpoint.ts';
import type { LlamaInit } from '../stage-context.ts';
import type { Tokenizer } from '../tokenizers/types.ts';
import type { CausalLM } from './causal-lm.ts';
import { GPT, type GPTConfig, type GPTOptions } from './gpt.ts';
import { Llama, type LlamaConfig } from './llama.ts';
import { selects, type LoraTarget } from './lora.ts';

/** Our config from a GPT-2 config.json. */
export function configFromGpt2(c: Gpt2Config): GPTConfig {
  const inner = c.n_inner ?? undefined;
  const eps = c.layer_norm_epsilon ?? 1e-5;
  const act = c.activation_function ?? 'gelu_new';
  return {
    vocabSize: c.vocab_size,
    context: c.n_positions,
    width: c.n_embd,
    layers: c.n_layer,
    heads: c.n_head,
    dropout: c.resid_pdrop ?? 0,
    ...(inner ? { inner } : {}),
    ...(eps !== 1e-5 ? { layerNormEps: eps } : {}),
    ...(act !== 'gelu_new' ? { activation: act } : {}),
  };
}

/** Our config from a Llama/Qwen2/Qwen3/Mistral config.json (checked: unsupported fields are refused by name). */
export function configFromLlama(c: LlamaHfConfig): LlamaConfig {
  const d = llamaDims(c);
  return {
    family: d.family,
    vocabSize: d.vocabSize,
    context: d.context,
    width: d.width,
    layers: d.layers,
    heads: d.heads,
    kvHeads: d.kvHeads,
    headDim: d.headDim,
    intermediate: d.intermediate,
    rmsNormEps: d.rmsNormEps,
    rope: d.rope,
    tie: d.tie,
    qkvBias: d.qkvBias,
    oBias: d.oBias,
    mlpBias: d.mlpBias,
    qkNorm: d.qkNorm,
    dropout: d.attentionDropout,
    ...(d.windows.some((w) => w !== undefined) ? { windows: d.windows } : {}),
    numLabels: d.numLabels,
  };
}

const CLASS_PREFIX: Record<LlamaModelType, string> = { llama: 'Llama', qwen2: 'Qwen2', qwen3: 'Qwen3', mistral: 'Mistral' };

/**
 * A config.json for a Llama-family model: the fields it was loaded with (kept as they were, so
 * transformers builds the same model) or, for one built here, transformers' fields for its config;
 * the architecture class for the kind, float32 weights, and token ids.
 */
export function llamaHfConfig(m: Llama, o: { kind?: 'causal_lm' | 'reward_model'; eosId?: number; padId?: number; bosId?: number } = {}): LlamaHfConfig {
  const c = m.config;
  const base: Record<string, unknown> = m.source ? structuredClone(m.source) : {
    model_type: c.family,
    vocab_size: c.vocabSize,
    hidden_size: c.width,
    intermediate_size: c.intermediate,
    num_hidden_layers: c.layers,
    num_attention_heads: c.heads,
    num_key_value_heads: c.kvHeads,
    head_dim: c.headDim,
    max_position_embeddings: c.context,
    rms_norm_eps: c.rmsNormEps,
    hidden_act: 'silu',
    tie_word_embeddings: c.tie,
    attention_dropout: c.dropout,
    rope_parameters: { rope_type: 'default', rope_theta: c.rope.theta },
    ...(c.family === 'llama' || c.family === 'qwen3' ? { attention_bias: c.qkvBias } : {}),
    ...(c.family === 'llama' ? { mlp_bias: c.mlpBias } : {}),
    ...(c.family === 'mistral' ? { sliding_window: null } : {}),
    ...(c.family === 'qwen2' || c.family === 'qwen3' ? { use_sliding_window: false } : {}),
  };
  delete base['torch_dtype'];
  const kind = o.kind ?? 'causal_lm';
  const cfg: Record<string, unknown> = {
    ...base,
    architectures: [`${CLASS_PREFIX[c.family]}${kind === 'reward_model' ? 'ForSequenceClassification' : 'ForCausalLM'}`],
    dtype: 'float32',
    tie_word_embeddings: c.tie,
    ...(o.eosId !== undefined ? { eos_token_id: o.eosId, bos_token_id: o.bosId ?? base['bos_token_id'] ?? o.eosId } : {}),
    ...(kind === 'reward_model' ? { num_labels: c.numLabels ?? 1, ...(o.padId !== undefined ? { pad_token_id: o.padId } : {}) } : {}),
    rlhfc: { version: 1, kind },
  };
  if (kind !== 'reward_model') {
    delete cfg['num_labels'];
    delete cfg['id2label'];
    delete cfg['label2id'];
  }
  return cfg as LlamaHfConfig;
}

/** A fresh Llama-family model for a `llama { ... }` declaration (random init, transformers' scheme). */
export function newLlama(i: LlamaInit, vocabSize: number, seed: number): Llama {
  return new Llama(
    {
      family: i.family,
      vocabSize,
      context: i.context,
      width: i.width,
      layers: i.layers,
      heads: i.heads,
      kvHeads: i.kvHeads,
      headDim: i.headDim,
      intermediate: i.intermediate,
      rmsNormEps: i.rmsNormEps,
      rope: { type: 'default', theta: i.ropeTheta },
      tie: i.tie,
      qkvBias: i.family === 'qwen2',
      oBias: false,
      mlpBias: false,
      qkNorm: i.family === 'qwen3',
      dropout: i.dropout,
    },
    { seed },
  );
}

/** Build a model for a config.json (GPT-2 or the Llama family) from named weights. */
export function modelFromWeights(config: HfConfig, weights: Map<string, { shape: number[]; data: Float32Array }>, opts: GPTOptions = {}): CausalLM {
  if (isLlamaConfig(config)) {
    const m = Llama.fromWeights(configFromLlama(config), weights, opts);
    m.source = config;
    return m;
  }
  return GPT.fromWeights(configFromGpt2(config), weights, opts);
}

export interface FromCheckpoint {
  model: CausalLM;
  config: HfConfig;
  tokenizer?: Tokenizer;
  /** Set when `dir` was an adapter folder. */
  baseDir?: string;
}

/** Load a model folder, or an adapter folder on top of its base (the model then has LoRA attached). */
export async function fromCheckpoint(dir: string, opts: GPTOptions = {}): Promise<FromCheckpoint> {
  const ck = await loadCheckpoint(dir);
  const model = modelFromWeights(ck.config, ck.weights, opts);
  if (ck.adapter) {
    const a = ck.adapter.config;
    const lora = model.addLora({ r: a.r, alpha: a.lora_alpha, dropout: a.lora_dropout, targets: a.target_modules as LoraTarget[] });
    lora.load(new Map([...ck.adapter.weights].filter(([n]) => /lora_[AB]\.weight$/.test(n))));
  }
  return { model, config: ck.config, tokenizer: ck.tokenizer, baseDir: ck.baseDir };
}

export interface ToCheckpointOptions {
  tokenizer?: Tokenizer;
  eosId?: number;
  kind?: 'causal_lm' | 'reward_model';
}

/** The config.json a model is saved with. */
export function savedConfig(model: CausalLM, o: ToCheckpointOptions = {}): HfConfig {
  const padId = o.kind === 'reward_model' ? o.tokenizer?.scorePad.id : o.tokenizer?.padId;
  const eosId = o.eosId ?? o.tokenizer?.eosId;
  if (model instanceof Llama) return llamaHfConfig(model, { kind: o.kind, eosId, padId });
  const c = (model as GPT).config;
  const config = gpt2Config({ vocabSize: c.vocabSize, context: c.context, layers: c.layers, heads: c.heads, width: c.width, dropout: c.dropout, eosId, padId, kind: o.kind });
  if (c.inner && c.inner !== 4 * c.width) config.n_inner = c.inner;
  // a model loaded from a folder keeps its LayerNorm ε and activation when saved again
  if (c.layerNormEps !== undefined) config.layer_norm_epsilon = c.layerNormEps;
  if (c.activation !== undefined) config.activation_function = c.activation;
  return config;
}

/** Save the full model (LoRA, if any, folded into the saved weights; the model itself is unchanged). */
export async function toCheckpoint(dir: string, model: CausalLM, o: ToCheckpointOptions = {}): Promise<void> {
  const config = savedConfig(model, o);
  const weights = model.mergedWeights();
  try {
    await saveModel(dir, { config, weights, tokenizer: o.tokenizer });
  } finally {
    for (const [n, t] of weights) if (t !== model.weights.get(n)) t.dispose();
  }
}

/**
 * Save only the LoRA adapter (PEFT layout). `baseDir` is recorded as an absolute path: PEFT
 * (`AutoPeftModelForCausalLM`) resolves it against the working directory, so a relative one would
 * open only from one folder; rlhfc also finds the base after the store moved (loadCheckpoint).
 */
export async function toAdapterCheckpoint(dir: string, model: CausalLM, o: { baseDir: string; baseConfig?: HfConfig; tokenizer?: Tokenizer; taskType?: string }): Promise<void> {
  const lora = model.lora;
  if (!lora) throw new Error('model has no LoRA adapters to save');
  if (lora.isMerged) throw new Error('LoRA adapters are merged into the weights; unmerge before saving the adapter');
  // `all-linear` is written as the module names it selects (PEFT reads a list as names)
  const targets = lora.targets.includes('all-linear') ? [...new Set(lora.layout.modules.filter((m) => selects(lora.targets, m)).map((m) => m.split('.').pop()!))] : lora.targets;
  const config = loraConfig({ r: lora.r, alpha: lora.alpha, dropout: lora.dropout, targetModules: targets, baseModel: resolve(o.baseDir), taskType: o.taskType, fanInFanOut: lora.layout.weights === 'in_out' });
  await saveAdapter(dir, { config, weights: lora.named() as Map<string, tf.Tensor>, tokenizer: o.tokenizer }, o.baseConfig);
}
