// The one reference helper (runtime/train/reference.ts) in its three cases, and the one run-time
// check that a tokenizer fits a model's weights (openLM).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../../core/diagnostics.ts';
import { toCheckpoint } from '../../../runtime/model/io.ts';
import type { CausalLM } from '../../../runtime/model/causal-lm.ts';
import type { StageContext } from '../../../runtime/stage-context.ts';
import { openLM, type LM } from '../../../runtime/train/lm.ts';
import { openReference, withoutAdapters } from '../../../runtime/train/reference.ts';
import { sampleResponses } from '../../../runtime/train/sampling.ts';
import { generate } from '../../../runtime/model/decode.ts';
import { CharTokenizer } from '../../../runtime/tokenizers/index.ts';
import { lmBatch, tinyModel, tok, useCpu } from '../helpers.ts';

beforeAll(useCpu);
let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rlhfc-reference-'));
  await toCheckpoint(join(dir, 'start'), tinyModel({}, 3), { tokenizer: tok });
  await toCheckpoint(join(dir, 'other'), tinyModel({}, 4), { tokenizer: tok });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What openLM and openReference read of a stage's context. */
const ctxOf = (inputs: Record<string, unknown>) => ({ inputs, seed: 0 }) as unknown as StageContext;
const model = (name: string) => ({ type: 'causal_lm' as const, dir: join(dir, name) });

const logits = (m: CausalLM) => {
  const b = lmBatch(2, 12);
  return tf.tidy(() => Array.from(m.logits(tf.tensor2d(b.ids, [b.B, b.T], 'int32'), tf.tensor2d(b.mask, [b.B, b.T])).dataSync()));
};

/** Move every trainable weight (the adapters' B = 0 would otherwise leave the output unchanged). */
function train(lm: LM): void {
  let k = 0;
  for (const v of lm.model.trainable().values()) v.assign(tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, 0.2, 'float32', ++k))));
}

describe('the reference', () => {
  it('of a LoRA policy is its base with the adapters off for the call only, and they are back on after a throw', async () => {
    const policy = await openLM(ctxOf({ model: model('start') }), { lora: { r: 2, alpha: 4, dropout: 0, targets: ['c_attn'], merge: false } });
    const start = logits(policy.model);
    train(policy);
    const trained = logits(policy.model);
    expect(trained).not.toEqual(start);
    const ref = await openReference(ctxOf({ model: model('start') }), policy, { duringTraining: true });
    const before = tf.memory().numTensors;
    expect(ref.note).toBe('reference: the starting weights');
    expect(await ref.use((m) => logits(m))).toEqual(start);
    expect(logits(policy.model)).toEqual(trained);
    await expect(ref.use(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(policy.model.lora!.enabled).toBe(true);
    await expect(
      withoutAdapters(policy.model, () => {
        throw new Error('sync boom');
      }),
    ).rejects.toThrow('sync boom');
    expect(policy.model.lora!.enabled).toBe(true);
    expect(logits(policy.model)).toEqual(trained);
    ref.dispose();
    expect(tf.memory().numTensors).toBe(before);
    policy.dispose();
  });

  it('of a fully fine-tuned policy is a frozen copy while training, the policy itself before training', async () => {
    const ctx = ctxOf({ policy: model('start') });
    const policy = await openLM(ctx, { modelInput: 'policy' });
    const start = logits(policy.model);
    const during = await openReference(ctx, policy, { duringTraining: true, policyInput: 'policy' });
    const before = await openReference(ctx, policy, { duringTraining: false });
    expect(await before.use((m) => m)).toBe(policy.model);
    train(policy);
    expect(logits(policy.model)).not.toEqual(start);
    expect(await during.use((m) => logits(m))).toEqual(start);
    const n = tf.memory().numTensors;
    during.dispose();
    before.dispose();
    expect(tf.memory().numTensors).toBeLessThan(n);
    policy.dispose();
  });

  it('is the given model when one is given', async () => {
    const policy = await openLM(ctxOf({ model: model('start') }), { lora: { r: 2, alpha: 4, dropout: 0, targets: ['c_attn'], merge: false } });
    const other = await openLM(ctxOf({ model: model('other') }));
    const ref = await openReference(ctxOf({ model: model('start') }), policy, { given: model('other'), duringTraining: false });
    expect(ref.note).toBe('reference: the given model');
    expect(await ref.use((m) => logits(m))).toEqual(logits(other.model));
    expect(policy.model.lora!.enabled).toBe(true);
    ref.dispose();
    other.dispose();
    policy.dispose();
  });
});

describe('a tokenizer that does not fit the model', () => {
  it('is refused by name (folder, both sizes) when the model folder holds a tokenizer larger than the model', async () => {
    const big = CharTokenizer.train(['abcdefghijklmnopqrstuvwxyz0123456789 .,;:!?'.repeat(2)]);
    await toCheckpoint(join(dir, 'narrow'), tinyModel({ vocabSize: big.vocabSize - 3 }, 5), { tokenizer: big });
    const err = await openLM(ctxOf({ model: model('narrow') })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    const msg = (err as UserError).message;
    expect(msg).toContain(join(dir, 'narrow'));
    expect(msg).toContain(`${big.vocabSize} tokens`);
    expect(msg).toContain(`${big.vocabSize - 3}`);
  });

  it("opens a folder whose model's embedding is padded beyond its own tokenizer (as Qwen2.5's), and never samples the padding ids", async () => {
    await toCheckpoint(join(dir, 'wide'), tinyModel({ vocabSize: tok.vocabSize + 3 }, 5), { tokenizer: tok });
    const lm = await openLM(ctxOf({ model: model('wide') }));
    try {
      expect(lm.model.config.vocabSize).toBe(tok.vocabSize + 3);
      // the first padding row becomes 10× the row of the greedy first answer token (the head is tied):
      // the most likely token there, so without the limit greedy decoding takes it
      const prompts = [tok.encode('the'), tok.encode('a b')];
      const o = { maxNewTokens: 6, minNewTokens: 6, temperature: 0, eosId: tok.eosId, padId: tok.padId };
      const t0 = (await generate(lm.model, prompts, o)).tokens[0][0];
      const emb = lm.model.weights.get('transformer.wte.weight')!;
      tf.tidy(() => emb.assign(tf.concat([tf.slice(emb, [0, 0], [tok.vocabSize, -1]), tf.mul(tf.slice(emb, [t0, 0], [1, -1]), 10), tf.slice(emb, [tok.vocabSize + 1, 0], [2, -1])], 0)));
      const free = await generate(lm.model, prompts, o);
      expect(free.tokens[0][0]).toBe(tok.vocabSize);
      expect((await generate(lm.model, prompts, { ...o, vocab: tok.vocabSize })).tokens[0][0]).toBe(t0);
      const s = await sampleResponses(lm.model, lm.tokenizer, ['the', 'a b'], { max_new_tokens: 6, min_new_tokens: 6, temperature: 1, top_k: 0, top_p: 1 }, 8, 1);
      for (const r of s.responseIds) for (const id of r) expect(id).toBeLessThan(tok.vocabSize);
    } finally {
      lm.dispose();
    }
  });

  it('is refused when a stage binds it to a saved model', async () => {
    const small = CharTokenizer.train(['abc']);
    await small.save(join(dir, 'small-tok'));
    const err = await openLM(ctxOf({ model: model('start'), tokenizer: { type: 'tokenizer', dir: join(dir, 'small-tok') } }), { tokenizerInput: 'tokenizer' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).message).toContain(`${small.vocabSize} tokens`);
  });
});
