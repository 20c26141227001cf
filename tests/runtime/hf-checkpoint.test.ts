import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { UserError } from '../../core/diagnostics.ts';
import { decodeSafetensors, encodeSafetensors, f16ToF32, readSafetensors, writeSafetensors } from '../../runtime/safetensors.ts';
import {
  expectedShapes,
  gpt2Config,
  loadAdapter,
  loadCheckpoint,
  loadModel,
  loraConfig,
  saveAdapter,
  saveModel,
  type Gpt2Config,
  type Weight,
} from '../../runtime/hf-checkpoint.ts';
import { CharTokenizer } from '../../runtime/tokenizers/index.ts';

const tmpDirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'rlhfc-ckpt-'));
  tmpDirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of tmpDirs) await rm(d, { recursive: true, force: true });
});

/** Deterministic pseudo-random weights. */
function fill(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    a[i] = ((x >>> 0) / 2 ** 32 - 0.5) * 0.04;
  }
  return a;
}

function randomWeights(cfg: Gpt2Config): Map<string, Weight> {
  const m = new Map<string, Weight>();
  let seed = 1;
  for (const [name, shape] of expectedShapes(cfg)) m.set(name, { shape, data: fill(shape.reduce((a, b) => a * b, 1), seed++) });
  return m;
}

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

async function userError(p: Promise<unknown> | (() => unknown)): Promise<UserError> {
  try {
    if (typeof p === 'function') p();
    else await p;
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return e as UserError;
  }
  throw new Error('expected a UserError');
}

describe('safetensors', () => {
  it('round-trips F32 (bit-identical, including NaN, -0, denormals), I32, I64 and metadata', async () => {
    const special = new Float32Array([NaN, -0, 0, Infinity, -Infinity, 1e-45, 3.4e38, -1.5]);
    const tensors = new Map([
      ['a.weight', { shape: [2, 4], data: special }],
      ['b', { shape: [3], data: new Int32Array([1, -2, 2147483647]) }],
      ['c.ids', { shape: [2], data: new BigInt64Array([5n, -9007199254740993n]) }],
      ['empty', { shape: [0, 3], data: new Float32Array(0) }],
    ]);
    const path = join(await tmp(), 'x.safetensors');
    await writeSafetensors(path, tensors, { format: 'pt', note: 'hi' });
    const raw = await readFile(path);
    const n = Number(raw.readBigUInt64LE(0));
    expect((8 + n) % 8).toBe(0);
    const header = JSON.parse(raw.subarray(8, 8 + n).toString('utf8'));
    expect(header['a.weight']).toMatchObject({ dtype: 'F32', shape: [2, 4] });
    expect(header.__metadata__).toEqual({ format: 'pt', note: 'hi' });
    // contiguous, no holes (the reference reader rejects gaps), 8-byte tensors first
    const spans = Object.entries(header)
      .filter(([k]) => k !== '__metadata__')
      .map(([k, v]) => [k, ...(v as { data_offsets: number[] }).data_offsets] as [string, number, number])
      .sort((a, b) => a[1] - b[1]);
    expect(spans[0][0]).toBe('c.ids');
    for (let i = 1; i < spans.length; i++) expect(spans[i][1]).toBe(spans[i - 1][2]);
    expect(spans[spans.length - 1][2]).toBe(raw.length - 8 - n);
    const back = await readSafetensors(path);
    expect(back.metadata).toEqual({ format: 'pt', note: 'hi' });
    expect(bits(back.tensors.get('a.weight')!.data as Float32Array)).toEqual(bits(special));
    expect(Array.from(back.tensors.get('b')!.data as Int32Array)).toEqual([1, -2, 2147483647]);
    expect(back.tensors.get('c.ids')).toMatchObject({ dtype: 'I64', shape: [2] });
    expect(Array.from(back.tensors.get('c.ids')!.data as BigInt64Array)).toEqual([5n, -9007199254740993n]);
    expect(back.tensors.get('empty')!.shape).toEqual([0, 3]);
  });

  it('reads F16 and BF16 as F32', () => {
    // F16: 1.0 = 0x3c00, -2.5 = 0xc100, 65504 = 0x7bff, smallest subnormal 0x0001; BF16: 1.0 = 0x3f80, -3.0 = 0xc040
    const f16 = new Uint16Array([0x3c00, 0xc100, 0x7bff, 0x0001]);
    const bf16 = new Uint16Array([0x3f80, 0xc040]);
    const header = JSON.stringify({
      h: { dtype: 'F16', shape: [4], data_offsets: [0, 8] },
      b: { dtype: 'BF16', shape: [2], data_offsets: [8, 12] },
    });
    const hb = Buffer.from(header);
    const buf = Buffer.alloc(8 + hb.length + 12);
    buf.writeBigUInt64LE(BigInt(hb.length), 0);
    hb.copy(buf, 8);
    Buffer.from(f16.buffer).copy(buf, 8 + hb.length);
    Buffer.from(bf16.buffer).copy(buf, 8 + hb.length + 8);
    const st = decodeSafetensors(buf, 'half.safetensors');
    expect(Array.from(st.tensors.get('h')!.data as Float32Array)).toEqual([1, -2.5, 65504, 2 ** -24]);
    expect(Array.from(st.tensors.get('b')!.data as Float32Array)).toEqual([1, -3]);
    expect(st.tensors.get('h')!.dtype).toBe('F32');
    expect(f16ToF32(0x7c00)).toBe(Infinity);
  });

  function fileWith(header: object, dataBytes: number): Uint8Array {
    const hb = Buffer.from(JSON.stringify(header));
    const buf = Buffer.alloc(8 + hb.length + dataBytes);
    buf.writeBigUInt64LE(BigInt(hb.length), 0);
    hb.copy(buf, 8);
    return buf;
  }

  it.each([
    ['truncated below 8 bytes', new Uint8Array(5), /bad\.st: invalid safetensors file: truncated/],
    ['header length beyond the file', (() => { const b = Buffer.alloc(16); b.writeBigUInt64LE(1000n, 0); return b; })(), /header length 1000 goes beyond the end of the file/],
    ['header not JSON', (() => { const b = Buffer.alloc(8 + 4); b.writeBigUInt64LE(4n, 0); b.write('{{{{', 8); return b; })(), /header is not valid JSON/],
    ['unsupported dtype', fileWith({ t: { dtype: 'U8', shape: [4], data_offsets: [0, 4] } }, 4), /tensor 't': unsupported dtype "U8"/],
    ['offsets beyond the data', fileWith({ t: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8), /data_offsets \[0, 16\] go beyond the data \(8 bytes\)/],
    ['size not matching the shape', fileWith({ t: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8), /needs 12 bytes but data_offsets span 8/],
    ['overlapping tensors', fileWith({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12), /'a' \[0, 8\] and 'b' \[4, 12\] overlap/],
    ['reversed offsets', fileWith({ t: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, 8), /must be \[begin, end\]/],
  ])('rejects a bad file: %s', async (_, bytes, re) => {
    const e = await userError(() => decodeSafetensors(bytes as Uint8Array, 'bad.st'));
    expect(e.diagnostics[0].code).toBe('RLHF9003');
    expect(e.message).toMatch(re);
  });

  it('reports a missing file and a truncated real file by name', async () => {
    const dir = await tmp();
    const e1 = await userError(readSafetensors(join(dir, 'nope.safetensors')));
    expect(e1.message).toMatch(/nope\.safetensors: file not found/);
    const good = encodeSafetensors([['w', { shape: [100], data: fill(100, 3) }]]);
    const path = join(dir, 'cut.safetensors');
    await writeFile(path, good.subarray(0, good.length - 10));
    const e2 = await userError(readSafetensors(path));
    expect(e2.message).toMatch(/cut\.safetensors: invalid safetensors file: tensor 'w'.*truncated/);
  });
});

describe('model checkpoints', () => {
  const cfg = gpt2Config({ vocabSize: 70, context: 16, layers: 2, heads: 2, width: 8, eosId: 69 });

  it('writes an HF GPT-2 config.json', () => {
    expect(cfg).toMatchObject({
      model_type: 'gpt2',
      architectures: ['GPT2LMHeadModel'],
      vocab_size: 70,
      n_positions: 16,
      n_embd: 8,
      n_layer: 2,
      n_head: 2,
      n_inner: null,
      activation_function: 'gelu_new',
      layer_norm_epsilon: 1e-5,
    });
    expect(expectedShapes(cfg).get('transformer.h.1.attn.c_attn.weight')).toEqual([8, 24]);
    expect(expectedShapes(cfg).get('transformer.h.0.mlp.c_proj.weight')).toEqual([32, 8]);
    expect(expectedShapes(cfg).size).toBe(2 + 12 * 2 + 2);
  });

  it('round-trips config, weights (bit-identical) and tokenizer; leaves no temporary folders', async () => {
    const root = await tmp();
    const dir = join(root, 'model');
    const weights = randomWeights(cfg);
    weights.set('v_head.summary.weight', { shape: [1, 8], data: fill(8, 99) });
    weights.set('v_head.summary.bias', { shape: [1], data: new Float32Array([0.25]) });
    const tok = CharTokenizer.train(['the quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX! 0123456789']);
    expect(tok.vocabSize).toBeLessThanOrEqual(70);
    await saveModel(dir, { config: cfg, weights, tokenizer: tok });
    expect((await readdir(dir)).sort()).toEqual(['config.json', 'model.safetensors', 'rlhfc_tokenizer.json', 'tokenizer.json', 'tokenizer_config.json']);
    const back = await loadModel(dir);
    expect(back.config).toEqual(cfg);
    expect([...back.weights.keys()].sort()).toEqual([...weights.keys()].sort());
    for (const [name, w] of weights) {
      expect(back.weights.get(name)!.shape).toEqual(w.shape);
      expect(bits(back.weights.get(name)!.data)).toEqual(bits(w.data));
    }
    expect(back.tokenizer?.encode('fox')).toEqual(tok.encode('fox'));
    // overwrite in place: still atomic, still no leftovers
    await saveModel(dir, { config: cfg, weights });
    expect((await readdir(root)).sort()).toEqual(['model']);
    expect((await loadModel(dir)).tokenizer).toBeUndefined();
  });

  it('saves tf.Variables without leaking tensors', async () => {
    await tf.setBackend('cpu');
    const before = tf.memory().numTensors;
    const vars = new Map<string, tf.Variable>();
    for (const [name, shape] of expectedShapes(cfg)) vars.set(name, tf.tidy(() => tf.variable(tf.randomNormal(shape, 0, 0.02, 'float32', 7), true, `ckpt-test-${name}`)));
    const dir = join(await tmp(), 'tfmodel');
    await saveModel(dir, { config: cfg, weights: vars });
    const back = await loadModel(dir);
    for (const [name, v] of vars) expect(bits(back.weights.get(name)!.data)).toEqual(bits(v.dataSync() as Float32Array));
    for (const v of vars.values()) v.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  /** Write a folder the way HF transformers does: no `transformer.` prefix or with it, buffers, tied head. */
  async function hfFolder(names: (n: string) => string, extra: [string, Weight][], config: object = cfg): Promise<string> {
    const dir = await tmp();
    const w = randomWeights(cfg);
    const tensors: [string, Weight][] = [...w].map(([k, v]) => [names(k), v]);
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    await writeSafetensors(join(dir, 'model.safetensors'), [...tensors, ...extra], { format: 'pt' });
    return dir;
  }

  it('loads an HF-style folder: unprefixed names, attn.bias/masked_bias buffers, tied lm_head', async () => {
    const w = randomWeights(cfg);
    const tri = new Float32Array(16 * 16).fill(1);
    const dir = await hfFolder(
      (n) => n.replace(/^transformer\./, ''),
      [
        ['h.0.attn.bias', { shape: [1, 1, 16, 16], data: tri }],
        ['h.0.attn.masked_bias', { shape: [], data: new Float32Array([-1e4]) }],
        ['lm_head.weight', w.get('transformer.wte.weight')!],
      ],
    );
    const back = await loadModel(dir);
    expect([...back.weights.keys()].sort()).toEqual([...w.keys()].sort());
    expect(bits(back.weights.get('transformer.h.1.mlp.c_fc.weight')!.data)).toEqual(bits(w.get('transformer.h.1.mlp.c_fc.weight')!.data));
  });

  it('names every wrongly shaped tensor with expected and actual shapes', async () => {
    const dir = await hfFolder((n) => n, [], { ...cfg, n_embd: 16, n_head: 2 });
    const e = await userError(loadModel(dir));
    expect(e.diagnostics[0].code).toBe('RLHF9003');
    expect(e.message).toMatch(/model\.safetensors: \d+ tensors have the wrong shape/);
    expect(e.diagnostics[0].notes).toContain('transformer.wte.weight: expected [70,16], got [70,8]');
  });

  it('lists missing tensors', async () => {
    const dir = await hfFolder((n) => n, [], { ...cfg, n_layer: 3 });
    const e = await userError(loadModel(dir));
    expect(e.message).toMatch(/12 tensors missing for a GPT-2 with n_layer=3/);
    expect(e.diagnostics[0].notes).toContain('transformer.h.2.attn.c_attn.weight [8,24]');
  });

  it('rejects unknown tensors, a bad config and a missing folder clearly', async () => {
    const dir = await hfFolder((n) => n, [['transformer.h.0.attn.c_attn.lora_A.weight', { shape: [2, 8], data: fill(16, 1) }]]);
    expect((await userError(loadModel(dir))).diagnostics[0].notes).toEqual(['transformer.h.0.attn.c_attn.lora_A.weight']);
    const dir2 = await hfFolder((n) => n, [], { ...cfg, n_head: 3 });
    expect((await userError(loadModel(dir2))).message).toMatch(/config\.json: invalid model config: n_embd \(8\) must be divisible by n_head \(3\)/);
    const dir3 = await hfFolder((n) => n, [], { ...cfg, model_type: 'bert' });
    expect((await userError(loadModel(dir3))).message).toMatch(/model_type is "bert": only "gpt2", "llama", "qwen2", "qwen3", "mistral" models are supported/);
    // a GPT-2 config relabelled llama is checked as a llama config: the field it lacks is named
    const dir4 = await hfFolder((n) => n, [], { ...cfg, model_type: 'llama' });
    expect((await userError(loadModel(dir4))).message).toMatch(/hidden_size: Invalid input: expected number/);
    expect((await userError(loadModel(join(dir, 'nope')))).message).toMatch(/nope\/config\.json: file not found/);
  });

  it('refuses to save weights that do not fit the config, writing nothing', async () => {
    const root = await tmp();
    const w = randomWeights(cfg);
    w.delete('transformer.ln_f.bias');
    const e = await userError(saveModel(join(root, 'm'), { config: cfg, weights: w }));
    expect(e.diagnostics[0].notes).toEqual(['transformer.ln_f.bias [8]']);
    expect(await readdir(root)).toEqual([]);
  });
});

describe('LoRA adapters', () => {
  const base = gpt2Config({ vocabSize: 70, context: 16, layers: 2, heads: 2, width: 8 });
  const adapterConfig = loraConfig({ r: 4, alpha: 8, dropout: 0.05, targetModules: ['c_attn'], baseModel: 'models/base' });
  function loraWeights(r = 4): Map<string, Weight> {
    const m = new Map<string, Weight>();
    for (let i = 0; i < 2; i++) {
      m.set(`base_model.model.transformer.h.${i}.attn.c_attn.lora_A.weight`, { shape: [r, 8], data: fill(r * 8, i + 1) });
      m.set(`base_model.model.transformer.h.${i}.attn.c_attn.lora_B.weight`, { shape: [24, r], data: fill(24 * r, i + 10) });
    }
    return m;
  }

  it('round-trips a PEFT-format adapter', async () => {
    const dir = join(await tmp(), 'adapter');
    const w = loraWeights();
    await saveAdapter(dir, { config: adapterConfig, weights: w }, base);
    expect((await readdir(dir)).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const json = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8'));
    expect(json).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 4, lora_alpha: 8, lora_dropout: 0.05, target_modules: ['c_attn'], base_model_name_or_path: 'models/base', fan_in_fan_out: true });
    const back = await loadAdapter(dir, base);
    expect(back.config).toEqual(adapterConfig);
    for (const [k, v] of w) expect(bits(back.weights.get(k)!.data)).toEqual(bits(v.data));
  });

  it('reports wrong rank, wrong module size and unpaired tensors', async () => {
    const w = loraWeights(2); // shapes say r=2, config says r=4
    const e1 = await userError(saveAdapter(join(await tmp(), 'a'), { config: adapterConfig, weights: w }));
    expect(e1.diagnostics[0].notes).toContain('base_model.model.transformer.h.0.attn.c_attn.lora_A.weight: expected [4,?], got [2,8]');
    const w2 = loraWeights();
    w2.delete('base_model.model.transformer.h.1.attn.c_attn.lora_B.weight');
    const e2 = await userError(saveAdapter(join(await tmp(), 'b'), { config: adapterConfig, weights: w2 }));
    expect(e2.diagnostics[0].notes!.join('\n')).toMatch(/h\.1\.attn\.c_attn\.lora_A\.weight: its partner .*lora_B\.weight is missing/);
    const dir = join(await tmp(), 'c');
    await saveAdapter(dir, { config: adapterConfig, weights: loraWeights() });
    const wide = { ...base, n_embd: 16 };
    const e3 = await userError(loadAdapter(dir, wide));
    expect(e3.diagnostics[0].notes).toContain('base_model.model.transformer.h.0.attn.c_attn.lora_A.weight: expected [4,16], got [4,8]');
  });

  it('loadCheckpoint resolves an adapter against its local base folder', async () => {
    const root = await tmp();
    const baseWeights = randomWeights(base);
    const tok = CharTokenizer.train(['abcdefg hijk']);
    await saveModel(join(root, 'base'), { config: base, weights: baseWeights, tokenizer: tok });
    await saveAdapter(join(root, 'lora'), { config: { ...adapterConfig, base_model_name_or_path: '../base' }, weights: loraWeights() });
    const ck = await loadCheckpoint(join(root, 'lora'));
    expect(ck.baseDir).toBe(join(root, 'base'));
    expect(ck.adapter?.weights.size).toBe(4);
    expect(bits(ck.weights.get('transformer.wte.weight')!.data)).toEqual(bits(baseWeights.get('transformer.wte.weight')!.data));
    expect(ck.tokenizer?.encode('abc')).toEqual(tok.encode('abc'));
    expect((await loadCheckpoint(join(root, 'base'))).adapter).toBeUndefined();
    await saveAdapter(join(root, 'orphan'), { config: { ...adapterConfig, base_model_name_or_path: 'gpt2' }, weights: loraWeights() });
    expect((await userError(loadCheckpoint(join(root, 'orphan')))).message).toMatch(/base model folder 'gpt2' .* has no config\.json/);
  });

  it('rejects an adapter_config.json that is not LoRA', async () => {
    const dir = await tmp();
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'PREFIX_TUNING' }));
    expect((await userError(loadAdapter(dir))).message).toMatch(/peft_type is "PREFIX_TUNING"/);
  });
});
