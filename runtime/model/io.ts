// GPT ⇄ checkpoint folders (runtime/hf-checkpoint.ts): full models in HF GPT-2 layout, LoRA adapters in PEFT layout.

import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { type Gpt2Config, gpt2Config, loadCheckpoint, loraConfig, saveAdapter, saveModel } from '../hf-checkpoint.ts';
import type { Tokenizer } from '../tokenizers/types.ts';
import { GPT, type GPTConfig, type GPTOptions } from './gpt.ts';
import type { LoraTarget } from './lora.ts';

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

export interface FromCheckpoint {
  model: GPT;
  config: Gpt2Config;
  tokenizer?: Tokenizer;
  /** Set when `dir` was an adapter folder. */
  baseDir?: string;
}

/** Load a model folder, or an adapter folder on top of its base (the model then has LoRA attached). */
export async function fromCheckpoint(dir: string, opts: GPTOptions = {}): Promise<FromCheckpoint> {
  const ck = await loadCheckpoint(dir);
  const model = GPT.fromWeights(configFromGpt2(ck.config), ck.weights, opts);
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

/** Save the full model (LoRA, if any, folded into the saved weights; the model itself is unchanged). */
export async function toCheckpoint(dir: string, model: GPT, o: ToCheckpointOptions = {}): Promise<void> {
  const c = model.config;
  const config = gpt2Config({ vocabSize: c.vocabSize, context: c.context, layers: c.layers, heads: c.heads, width: c.width, dropout: c.dropout, eosId: o.eosId ?? o.tokenizer?.eosId, padId: o.kind === 'reward_model' ? o.tokenizer?.scorePad.id : o.tokenizer?.padId, kind: o.kind });
  if (c.inner && c.inner !== 4 * c.width) config.n_inner = c.inner;
  // a model loaded from a folder keeps its LayerNorm ε and activation when saved again
  if (c.layerNormEps !== undefined) config.layer_norm_epsilon = c.layerNormEps;
  if (c.activation !== undefined) config.activation_function = c.activation;
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
export async function toAdapterCheckpoint(dir: string, model: GPT, o: { baseDir: string; baseConfig?: Gpt2Config; tokenizer?: Tokenizer; taskType?: string }): Promise<void> {
  const lora = model.lora;
  if (!lora) throw new Error('model has no LoRA adapters to save');
  if (lora.isMerged) throw new Error('LoRA adapters are merged into the weights; unmerge before saving the adapter');
  const config = loraConfig({ r: lora.r, alpha: lora.alpha, dropout: lora.dropout, targetModules: lora.targets, baseModel: resolve(o.baseDir), taskType: o.taskType });
  await saveAdapter(dir, { config, weights: lora.named() as Map<string, tf.Tensor>, tokenizer: o.tokenizer }, o.baseConfig);
}
