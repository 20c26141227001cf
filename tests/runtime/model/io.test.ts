import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromCheckpoint, toAdapterCheckpoint, toCheckpoint } from '../../../runtime/model/io.ts';
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
});
