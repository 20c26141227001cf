import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { generate, sampleToken } from '../../../runtime/model/decode.ts';
import { Rng } from '../../../runtime/rng.ts';
import { tinyModel, tok, useCpu } from '../helpers.ts';

beforeAll(useCpu);

const prompts = [tok.encode('Four score'), tok.encode('and dedicated to the'), tok.encode('N')];
const opts = { maxNewTokens: 8, eosId: tok.eosId, padId: tok.padId };

describe('generate', () => {
  it('greedy with the KV cache equals full recomputation; tensor count stays flat', async () => {
    const m = tinyModel({}, 3);
    const before = tf.memory().numTensors;
    const a = await generate(m, prompts, { ...opts, temperature: 0 });
    expect(tf.memory().numTensors).toBe(before);
    const b = await generate(m, prompts, { ...opts, temperature: 0, useCache: false });
    expect(a.tokens).toEqual(b.tokens);
    expect(Array.from(a.ids)).toEqual(Array.from(b.ids));
    expect(a.tokens.every((t) => t.length === 8)).toBe(true);
    // full sequences: left-padded prompts, then the generated tokens
    expect(a.promptLength).toBe(20);
    expect(a.L).toBe(28);
    const row2 = Array.from(a.ids.slice(2 * a.L, 3 * a.L));
    expect(row2.slice(19, 20)).toEqual(prompts[2]);
    expect(row2.slice(20)).toEqual(a.tokens[2]);
    expect(Array.from(a.mask.slice(2 * a.L, 2 * a.L + 19)).every((x) => x === 0)).toBe(true);
    // greedy: each token is the argmax of the model's next-token logits on the unpadded row
    const seq = [...prompts[0], ...a.tokens[0].slice(0, 3)];
    const next = tf.tidy(() => m.logits(tf.tensor2d([seq], undefined, 'int32')).argMax(-1).dataSync()[seq.length - 1]);
    expect(next).toBe(a.tokens[0][3]);
    m.dispose();
  });

  it('sampling is seeded and reproducible; top-k 1 is greedy', async () => {
    const m = tinyModel({}, 4);
    const s1 = await generate(m, prompts, { ...opts, temperature: 1, seed: 11 });
    const s2 = await generate(m, prompts, { ...opts, temperature: 1, seed: 11 });
    const s3 = await generate(m, prompts, { ...opts, temperature: 1, seed: 12 });
    expect(s1.tokens).toEqual(s2.tokens);
    expect(s1.tokens).not.toEqual(s3.tokens);
    const g = await generate(m, prompts, { ...opts, temperature: 0 });
    expect((await generate(m, prompts, { ...opts, temperature: 1.5, topK: 1, seed: 5 })).tokens).toEqual(g.tokens);
    m.dispose();
  });

  it('stops rows at eos (then pad with mask 0) and suppresses eos before min_new_tokens', async () => {
    const m = tinyModel({}, 5);
    // make eos overwhelmingly likely: push its output embedding along the hidden states
    tf.tidy(() => {
      const wte = m.w('transformer.wte.weight');
      const boost = tf.oneHot([tok.eosId], tok.vocabSize).reshape([tok.vocabSize, 1]);
      const h = m.hidden(tf.tensor2d([prompts[1]], undefined, 'int32')).mean([0, 1]).reshape([1, -1]);
      wte.assign(tf.add(wte, tf.mul(tf.matMul(boost, h), 500)));
    });
    const r = await generate(m, prompts, { ...opts, temperature: 0 });
    expect(r.finished.every(Boolean)).toBe(true);
    expect(r.tokens.every((t) => t.length === 1 && t[0] === tok.eosId)).toBe(true);
    expect(r.L).toBe(r.promptLength + 1);
    const withMin = await generate(m, prompts, { ...opts, temperature: 0, minNewTokens: 3 });
    for (const t of withMin.tokens) {
      expect(t.slice(0, 3)).not.toContain(tok.eosId);
      expect(t[t.length - 1]).toBe(tok.eosId);
    }
    m.dispose();
  });

  it('top-p keeps the smallest nucleus; temperature 0 is argmax', () => {
    const logits = Float32Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)]);
    const rng = new Rng(1);
    const seen = new Set<number>();
    for (let i = 0; i < 300; i++) seen.add(sampleToken(logits, { temperature: 1, topK: 0, topP: 0.75 }, rng));
    expect([...seen].sort()).toEqual([0, 1]);
    const all = new Set<number>();
    for (let i = 0; i < 500; i++) all.add(sampleToken(logits, { temperature: 1, topK: 3, topP: 1 }, rng));
    expect([...all].sort()).toEqual([0, 1, 2]);
    expect(sampleToken(logits, { temperature: 0, topK: 0, topP: 1 }, rng)).toBe(0);
  });

  it('samples exactly as the definition: a stable sort by logit, top-k, top-p, then one uniform draw', () => {
    // the definition, written plainly (a comparator sort; the product uses a native key sort)
    const reference = (logits: Float32Array, o: { temperature: number; topK: number; topP: number }, rng: Rng): number => {
      let idx = Array.from({ length: logits.length }, (_, i) => i).filter((i) => logits[i] > -Infinity);
      idx.sort((a, b) => logits[b] - logits[a]);
      if (o.topK > 0 && o.topK < idx.length) idx = idx.slice(0, o.topK);
      let probs = idx.map((i) => Math.exp((logits[i] - logits[idx[0]]) / o.temperature));
      let total = probs.reduce((a, b) => a + b, 0);
      if (o.topP < 1) {
        let cum = 0;
        const keep = probs.findIndex((p) => (cum += p / total) >= o.topP) + 1 || idx.length;
        [idx, probs] = [idx.slice(0, keep), probs.slice(0, keep)];
        total = probs.reduce((a, b) => a + b, 0);
      }
      let u = rng.next() * total;
      for (let j = 0; j < idx.length; j++) if ((u -= probs[j]) <= 0) return idx[j];
      return idx[idx.length - 1];
    };
    const gen = new Rng(7);
    for (let trial = 0; trial < 200; trial++) {
      const V = 1 + gen.int(600);
      // few distinct values (many ties), −0 beside +0, masked (−Infinity) entries, huge and tiny values
      const logits = Float32Array.from({ length: V }, () => {
        const r = gen.next();
        if (r < 0.05) return -Infinity;
        if (r < 0.1) return -0;
        if (r < 0.15) return 0;
        if (r < 0.2) return (gen.next() - 0.5) * 1e30;
        return Math.round((gen.next() - 0.5) * 20) / 4;
      });
      if (!logits.some((x) => x > -Infinity)) logits[0] = 1;
      const o = { temperature: [1, 0.7, 2][trial % 3], topK: [0, 1, 5, 50][trial % 4], topP: [1, 0.9, 0.3][trial % 5 % 3] };
      const [a, b] = [new Rng(trial), new Rng(trial)];
      for (let draw = 0; draw < 5; draw++) expect(sampleToken(logits, o, a)).toBe(reference(logits, o, b));
    }
  });

  it('rejects prompts that fill the context', async () => {
    const m = tinyModel({ context: 8 });
    await expect(generate(m, [tok.encode('Four score')], opts)).rejects.toThrow(/no room in the model's context of 8/);
    m.dispose();
  });
});
