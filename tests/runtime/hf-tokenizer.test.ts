// The Hugging Face tokenizer kind without Python: the Oniguruma → JavaScript regex translation, hand
// values of the BPE model (byte fallback, fuse_unk, ignore_merges, merge order), refusals by name, and
// very large vocabularies (a 300,000-token file used to fail with "Maximum call stack size exceeded").
// The comparison with the `tokenizers` library itself is tests/interop/hf-tokenizers.test.ts.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../core/diagnostics.ts';
import { BYTE_TO_CHAR } from '../../runtime/tokenizers/bytes.ts';
import { onigRegex, translateRegex } from '../../runtime/tokenizers/hf-regex.ts';
import { HfTokenizer, loadTokenizer, withBos } from '../../runtime/tokenizers/index.ts';

const tmp = mkdtempSync(join(tmpdir(), 'rlhfc-hftok-unit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const split = (re: RegExp, s: string) => s.match(re) ?? [];

describe('Oniguruma patterns in JavaScript', () => {
  it("Llama 3's pattern: case-insensitive contractions, 1–3 digit numbers, newline runs", () => {
    const re = onigRegex(LLAMA3);
    expect(split(re, "I'M here, DON'T we'Ll")).toEqual(['I', "'M", ' here', ',', ' DON', "'T", ' we', "'Ll"]);
    expect(split(re, '1234567 ab')).toEqual(['123', '456', '7', ' ab']);
    expect(split(re, 'a\n\n  b')).toEqual(['a', '\n\n', ' ', ' b']);
    expect(split(re, 'x  \ty')).toEqual(['x', '  ', '\ty']);
  });

  it('\\s is Unicode White_Space as in Oniguruma: U+0085 is space, U+FEFF is not', () => {
    const ws = onigRegex('\\s+');
    expect(split(ws, 'a\u0085b')).toEqual(['\u0085']);
    expect(split(ws, 'a\ufeffb')).toEqual([]);
    expect(split(onigRegex('[^\\s]+'), 'a\u0085b')).toEqual(['a', 'b']);
  });

  it('refuses what JavaScript cannot do the same way, naming the pattern', () => {
    expect(() => translateRegex('a++')).toThrow(/possessive quantifier/);
    expect(() => translateRegex('(?>ab)')).toThrow(/"\(\?>a"/);
    expect(() => translateRegex('\\h+')).toThrow(/\\h/);
    expect(translateRegex('(?i:ab)c')).toBe('(?:[aA][bB])c');
  });
});

/** A SentencePiece-style BPE over a few characters, with the 256 byte tokens. */
function spJson(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  for (const t of ['▁', 'a', 'b', 'c', '▁a', 'ab', '▁ab', 'bc']) vocab[t] = Object.keys(vocab).length;
  return {
    version: '1.0',
    added_tokens: [0, 1, 2].map((id) => ({ id, content: ['<unk>', '<s>', '</s>'][id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false },
    post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }], pair: [], special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } } },
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges: [['▁', 'a'], ['a', 'b'], ['▁a', 'b'], ['b', 'c']] },
    ...extra,
  };
}

describe('the BPE model by hand', () => {
  it('merges by rank, leftmost first; characters outside the vocabulary fall back to bytes', () => {
    const t = new HfTokenizer(spJson(), { config: { bos_token: '<s>', eos_token: '</s>' } });
    const id = (s: string) => t.tokenToId(s)!;
    // "abc": a b c → (a,b) rank 1 before (b,c) rank 3 → ab c; prepended ▁ → ▁ab c
    expect(t.encode('abc')).toEqual([id('▁ab'), id('c')]);
    expect(t.encode('bc')).toEqual([id('▁'), id('bc')]);
    // é is not in the vocabulary: its two UTF-8 bytes
    expect(t.encode('aé')).toEqual([id('▁a'), id('<0xC3>'), id('<0xA9>')]);
    expect(t.decode(t.encode('aé abc'))).toBe('aé abc');
    expect(t.bosId).toBe(1);
    expect(withBos(t, t.encode('a'))).toEqual([1, id('▁a')]);
    // special literals: text by default, the token with allowSpecial
    expect(t.encode('</s>')).not.toContain(2);
    expect(t.encode('a</s>', { allowSpecial: true })).toEqual([id('▁a'), 2]);
  });

  it('without byte fallback, unknown characters become one fused <unk>', () => {
    const j = spJson();
    (j.model as Record<string, unknown>).byte_fallback = false;
    const t = new HfTokenizer(j, { config: { eos_token: '</s>' } });
    expect(t.encode('aéèb')).toEqual([t.tokenToId('▁a'), 0, t.tokenToId('b')]);
  });

  it('ignore_merges takes a whole word that is in the vocabulary', () => {
    const vocab: Record<string, number> = {};
    BYTE_TO_CHAR.forEach((c, i) => (vocab[c] = i));
    vocab['ab'] = 256;
    vocab['abc'] = 257;
    vocab['<|end_of_text|>'] = 258;
    const j = { model: { type: 'BPE', vocab, merges: ['a b'], ignore_merges: true }, pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, use_regex: true }, decoder: { type: 'ByteLevel' }, added_tokens: [{ id: 258, content: '<|end_of_text|>', special: true }] };
    const t = new HfTokenizer(j);
    expect(t.encode('abc')).toEqual([257]);
    expect(new HfTokenizer({ ...j, model: { ...j.model, ignore_merges: false } }).encode('abc')).toEqual([256, 99]);
    expect(t.eosId).toBe(258);
  });
});

describe('loading folders', () => {
  const folder = (name: string, json: unknown, config?: unknown): string => {
    const dir = join(tmp, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
    if (config) writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
    return dir;
  };
  const refusal = async (dir: string): Promise<string> => {
    try {
      await loadTokenizer(dir);
    } catch (e) {
      expect(e).toBeInstanceOf(UserError);
      return (e as Error).message;
    }
    throw new Error('loaded');
  };

  it('refuses other model types and unknown components by name, naming the file', async () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['wordpiece', { ...spJson(), model: { type: 'WordPiece', vocab: { a: 0 } } }, /model type "WordPiece"/],
      ['unigram', { ...spJson(), model: { type: 'Unigram', vocab: { a: 0 } } }, /model type "Unigram"/],
      ['bert-normalizer', spJson({ normalizer: { type: 'BertNormalizer' } }), /normalizer type "BertNormalizer"/],
      ['whitespace', spJson({ pre_tokenizer: { type: 'Whitespace' } }), /pre_tokenizer type "Whitespace"/],
      ['wordpiece-decoder', spJson({ decoder: { type: 'WordPiece' } }), /decoder type "WordPiece"/],
      ['roberta', spJson({ post_processor: { type: 'RobertaProcessing' } }), /post_processor type "RobertaProcessing"/],
      ['precompiled', spJson({ normalizer: { type: 'Precompiled', precompiled_charsmap: '' } }), /normalizer type "Precompiled"/],
      ['bad-eos', spJson(), /eos_token "<\|nope\|>", which is not in the vocabulary/],
    ];
    for (const [name, json, re] of cases) {
      const dir = folder(name, json, name === 'bad-eos' ? { eos_token: '<|nope|>' } : { eos_token: '</s>' });
      const msg = await refusal(dir);
      expect(msg).toMatch(re);
      expect(msg).toContain(join(dir, 'tokenizer.json'));
    }
  });

  it('reads tokenizer_config.json special tokens as strings or {content} objects', async () => {
    const t = (await loadTokenizer(folder('objects', spJson(), { eos_token: { content: '</s>', special: true }, pad_token: '<unk>', add_bos_token: false }))) as HfTokenizer;
    expect(t.kind).toBe('hf');
    expect([t.eosId, t.padId, t.bosId]).toEqual([2, 0, undefined]);
  });

  /** A plain byte-level tokenizer.json with `n` tokens: the bytes, every byte pair, then byte triples. */
  function bigByteLevel(n: number, flavour: 'plain' | 'llama3'): Record<string, unknown> {
    const vocab: Record<string, number> = {};
    const merges: [string, string][] = [];
    let id = 0;
    for (const c of BYTE_TO_CHAR) vocab[c] = id++;
    const pairs: string[] = [];
    outer: for (const a of BYTE_TO_CHAR) {
      for (const b of BYTE_TO_CHAR) {
        if (id >= n - 1) break outer;
        vocab[a + b] = id++;
        merges.push([a, b]);
        pairs.push(a + b);
      }
    }
    outer2: for (const ab of pairs) {
      for (const c of BYTE_TO_CHAR) {
        if (id >= n - 1) break outer2;
        vocab[ab + c] = id++;
        merges.push([ab, c]);
      }
    }
    const eot = flavour === 'plain' ? '<|endoftext|>' : '<|end_of_text|>';
    vocab[eot] = id++;
    const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: flavour === 'plain' };
    return {
      added_tokens: [{ id: id - 1, content: eot, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
      normalizer: null,
      pre_tokenizer: flavour === 'plain' ? byteLevel : { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: LLAMA3 }, behavior: 'Isolated', invert: false }, byteLevel] },
      post_processor: null,
      decoder: { type: 'ByteLevel' },
      model: { type: 'BPE', vocab, merges, ignore_merges: flavour === 'llama3' },
    };
  }

  it('a 300,000-token vocabulary loads (no "Maximum call stack size exceeded") and encodes, in both flavours', async () => {
    for (const flavour of ['plain', 'llama3'] as const) {
      const json = bigByteLevel(300_000, flavour);
      const dir = folder(`big-${flavour}`, json);
      const t0 = performance.now();
      const tok = await loadTokenizer(dir);
      const ms = performance.now() - t0;
      expect(tok.vocabSize).toBe(300_000);
      expect(tok.kind).toBe(flavour === 'plain' ? 'bpe' : 'hf');
      const text = 'Hello world, a 300k vocabulary: ünïcödé 日本 🙂';
      expect(tok.decode(tok.encode(text))).toBe(text);
      process.stderr.write(`300,000-token ${flavour} tokenizer.json loaded in ${(ms / 1000).toFixed(2)} s\n`);
      expect(ms).toBeLessThan(60_000); // about 3.5 s alone on the 2-core machine; generous for a loaded CI run
    }
  }, 120_000);
});

describe('the data pipeline puts bos first for models that want it', () => {
  it('sft, preference, unpaired, prompts and documents start with bos; tokenizers without one are unchanged', async () => {
    const { encodeSft, encodePreference, encodeCompletion, encodeDocument } = await import('../../runtime/train/examples.ts');
    const { encodePrompts } = await import('../../runtime/train/sampling.ts');
    const { BpeTokenizer } = await import('../../runtime/tokenizers/index.ts');
    const t = new HfTokenizer(spJson(), { config: { bos_token: '<s>', eos_token: '</s>' } });
    const sft = encodeSft(t, '{prompt}{response}', 'ab', 'c', 64);
    expect(sft.ids).toEqual([1, ...t.encode('ab'), ...t.encode('c'), 2]);
    expect(sft.loss).toEqual([0, 0, ...t.encode('c').map(() => 1), 1]);
    const pref = encodePreference(t, 'ab', 'c', 'bc', 64);
    expect(pref.chosen.ids[0]).toBe(1);
    expect(pref.rejected.ids[0]).toBe(1);
    expect(encodeCompletion(t, 'ab', 'c', 64).prompt[0]).toBe(1);
    expect(encodeDocument(t, 'abc')).toEqual([1, ...t.encode('abc')]);
    expect(encodePrompts(t, ['ab abc abc abc', ''], 3)).toEqual([[1, ...t.encode('ab abc abc abc').slice(-2)], [1]]);
    const b = BpeTokenizer.train(['hello world'], { vocabSize: 260 });
    expect((b as { bosId?: number }).bosId).toBeUndefined();
    expect(encodeSft(b, '{prompt}{response}', 'he', 'llo', 64).ids).toEqual([...b.encode('he'), ...b.encode('llo'), b.eosId]);
    expect(encodePrompts(b, [''], 4)).toEqual([[b.eosId]]);
  });
});
