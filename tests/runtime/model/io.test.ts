import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromCheckpoint, llamaHfConfig, toAdapterCheckpoint, toCheckpoint } from '../../../runtime/model/io.ts';
import { Llama } from '../../../runtime/model/llama.ts';
import { loadModel } from '../../../runtime/hf-checkpoint.ts';
import { readSafetensors, writeSafetensors } from '../../../runtime/safetensors.ts';
import { lmBatch, tinyModel, tok, useCpu } from '../helpers.ts';
import type { CausalLM } from '../../../runtime/model/causal-lm.ts';

beforeAll(useCpu);
let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rlhfc-runtime-io-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const logitsOf = (m: CausalLM) => {
  const b = lmBatch(2, 12);
  return tf.tidy(() => Array.from(m.logits(tf.tensor2d(b.ids, [b.B, b.T], 'int32'), tf.tensor2d(b.mask, [b.B, b.T])).dataSync()));
};

describe('checkpoints', () => {
  it('save → load reproduces logits and heads exactly', async () => {
    const m = tinyModel({}, 1, ['value', 'reward']);
    await toCheckpoint(join(dir, 'full'), m, { tokenizer: tok });
    const r = await fromCheckpoint(join(dir, 'full'));
    expect(r.tokenizer?.vocabSize).toBe(tok.vocabSize);
    expect(r.config.eos_token_id).toBe(tok.eosId);
    expect(r.model.hasHead('value') && r.model.hasHead('reward')).toBe(true);
    expect(logitsOf(r.model)).toEqual(logitsOf(m));
    for (const [n, v] of m.weights) expect(Array.from(r.model.w(n).dataSync()), n).toEqual(Array.from(v.dataSync()));
    m.dispose();
    r.model.dispose();
  });

  it('adapter folders load against their base; a merged save equals the adapter forward', async () => {
    const m = tinyModel({}, 2);
    await toCheckpoint(join(dir, 'base'), m, { tokenizer: tok });
    const lora = m.addLora({ r: 2, alpha: 4, targets: ['c_attn', 'c_proj'] });
    // give B non-zero values so the adapter changes the output
    for (const [n, v] of lora.named()) if (n.includes('lora_B')) tf.tidy(() => v.assign(tf.randomNormal(v.shape, 0, 0.1, 'float32', 3)));
    const count = tf.memory().numTensors;
    await toAdapterCheckpoint(join(dir, 'adapter'), m, { baseDir: join(dir, 'base') });
    await toCheckpoint(join(dir, 'merged'), m);
    expect(tf.memory().numTensors).toBe(count);
    const a = await fromCheckpoint(join(dir, 'adapter'));
    expect(a.baseDir).toBe(join(dir, 'base'));
    expect(a.model.lora?.targets).toEqual(['c_attn', 'c_proj']);
    expect(logitsOf(a.model)).toEqual(logitsOf(m));
    const merged = await fromCheckpoint(join(dir, 'merged'));
    const [x, y] = [logitsOf(merged.model), logitsOf(m)];
    expect(Math.max(...x.map((v, i) => Math.abs(v - y[i])))).toBeLessThan(1e-4);
    [m, a.model, merged.model].forEach((k) => k.dispose());
  });

  it('a Llama-family model (Mistral layout: GQA, untied, sliding window, rope llama3) saves and loads exactly, adapter in PEFT layout; sharded folders load', async () => {
    const m = new Llama(
      { family: 'mistral', vocabSize: tok.vocabSize, context: 32, width: 16, layers: 2, heads: 4, kvHeads: 2, headDim: 6, intermediate: 24, rmsNormEps: 1e-5, rope: { type: 'llama3', theta: 500, factor: 4, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 20 }, tie: false, qkvBias: false, oBias: false, mlpBias: false, qkNorm: false, dropout: 0, windows: [6, 6] },
      { seed: 3, heads: ['value'] },
    );
    m.source = { ...llamaHfConfig(m), rope_parameters: { rope_type: 'llama3', rope_theta: 500, factor: 4, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 20 }, sliding_window: 6, custom_field: 'kept' };
    await toCheckpoint(join(dir, 'mistral'), m, { tokenizer: tok });
    const cfg = JSON.parse(await readFile(join(dir, 'mistral', 'config.json'), 'utf8'));
    expect(cfg.custom_field).toBe('kept');
    expect(cfg.architectures).toEqual(['MistralForCausalLM']);
    const r = await fromCheckpoint(join(dir, 'mistral'));
    expect(r.model.family).toBe('mistral');
    expect(r.model.hasHead('value')).toBe(true);
    expect(logitsOf(r.model)).toEqual(logitsOf(m));
    // the same weights split over two shards with an index load the same
    const st = await readSafetensors(join(dir, 'mistral', 'model.safetensors'));
    const names = [...st.tensors.keys()];
    const shard = await mkdtemp(join(dir, 'sharded-'));
    await copyFile(join(dir, 'mistral', 'config.json'), join(shard, 'config.json'));
    const half = Math.floor(names.length / 2);
    await writeSafetensors(join(shard, 'model-00001-of-00002.safetensors'), names.slice(0, half).map((n) => [n, st.tensors.get(n)!] as const));
    await writeSafetensors(join(shard, 'model-00002-of-00002.safetensors'), names.slice(half).map((n) => [n, st.tensors.get(n)!] as const));
    const weightMap = Object.fromEntries(names.map((n, i) => [n, i < half ? 'model-00001-of-00002.safetensors' : 'model-00002-of-00002.safetensors']));
    await writeFile(join(shard, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const sharded = await loadModel(shard);
    expect([...sharded.weights.keys()].sort()).toEqual([...r.model.weights.keys()].sort());
    await writeFile(join(shard, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { x: '../model.safetensors' } }));
    await expect(loadModel(shard)).rejects.toThrow(/shard "..\/model.safetensors" is not a .safetensors file name inside the folder/);
    // a LoRA adapter in PEFT layout over the saved folder
    const lora = m.addLora({ r: 2, alpha: 4, targets: ['q_proj', 'o_proj', 'up_proj'] });
    for (const [n, v] of lora.named()) if (n.includes('lora_B')) tf.tidy(() => v.assign(tf.randomNormal(v.shape, 0, 0.3, 'float32', 4)));
    await toAdapterCheckpoint(join(dir, 'mistral-lora'), m, { baseDir: join(dir, 'mistral') });
    const a = await fromCheckpoint(join(dir, 'mistral-lora'));
    expect([...a.model.lora!.named().keys()]).toContain('base_model.model.model.layers.1.mlp.up_proj.lora_B.weight');
    expect(logitsOf(a.model)).toEqual(logitsOf(m));
    [m, r.model, a.model].forEach((k) => k.dispose());
  });
});
