// Every tokenizer kind rlhfc writes (byte-level BPE trained by rlhfc, GPT-2, characters) opens from
// its saved folder in `tokenizers` and in `transformers.AutoTokenizer`, and gives rlhfc's ids on
// real text (State of the Union, Moby Dick, the sentiment sentences) and on the edge cases: the
// empty string, whitespace runs, tabs and newlines, non-ASCII letters, emoji, CJK, combining marks.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadCorpus, sentimentSentences } from '../../runtime/sources/dataset-corpus.ts';
import { BpeTokenizer, CharTokenizer, Gpt2Tokenizer, loadTokenizer, type Tokenizer } from '../../runtime/tokenizers/index.ts';
import { describeInterop, pyJson } from './python.ts';

const tmp = mkdtempSync(join(tmpdir(), 'rlhfc-tok-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const sotu = (loadCorpus('sotu', { kind: 'text', promptWords: 4, seed: 0 }) as { text: string }[]).map((r) => r.text);
const moby = (loadCorpus('moby-dick', { kind: 'text', promptWords: 4, seed: 0 }) as { text: string }[]).map((r) => r.text);
const sentences = sentimentSentences().map((s) => s.text);
const every = <T>(xs: T[], n: number) => xs.filter((_, i) => i % Math.ceil(xs.length / n) === 0);

/** Real text (whole paragraphs: their own runs of spaces and newlines) and the edge cases. */
const TEXTS = [
  ...every(sotu, 12).map((t) => t.slice(0, 3000)),
  ...every(moby, 12).map((t) => t.slice(0, 3000)),
  ...every(sentences, 60),
  '',
  ' ',
  '   ',
  '\n\n\n',
  'a  b   c    d',
  'tabs\tand\t\tnewlines\n\n  indented\r\nwindows line',
  'trailing spaces   ',
  '   leading spaces',
  "don't won't I'm you're we've they'll he'd IT'S",
  'naïve café déjà vu — “curly quotes” and ‘single’ … ellipsis',
  'Größe straße ÆØÅ æøå Ωμέγα Москва',
  '日本語のテキスト 中文 한국어',
  'emoji 🙂👍🏽 family 👨‍👩‍👧 flag 🇫🇷',
  'e\u0301 combining, \u00a0no-break space, zero\u200bwidth',
  'numbers 1234567 3.14159 1,000,000 2nd 42%',
  '$%^&*()_+-=[]{}|;:\'",.<>/?`~ @#!',
];

describeInterop('interop: every tokenizer kind opens in tokenizers and AutoTokenizer with rlhfc\'s ids', () => {
  const kinds: Record<string, Tokenizer> = {};
  let got: Record<string, { fast: number[][]; auto: number[][]; autoCall: number[][]; decoded: string[]; eos: [string, number]; pad: [string | null, number | null]; side: string }>;

  beforeAll(async () => {
    kinds['bpe (trained by rlhfc on sotu)'] = BpeTokenizer.train(every(sotu, 60), { vocabSize: 700 });
    kinds['gpt2'] = new Gpt2Tokenizer();
    kinds['characters (trained on moby-dick)'] = CharTokenizer.train(every(moby, 20));
    const dirs: Record<string, string> = {};
    for (const [name, tok] of Object.entries(kinds)) {
      dirs[name] = join(tmp, name.replace(/\W+/g, '_'));
      await tok.save(dirs[name]);
    }
    got = pyJson(
      `import json, sys
from tokenizers import Tokenizer
from transformers import AutoTokenizer
dirs, texts, out = json.loads(sys.argv[1]), json.load(open(sys.argv[2], encoding="utf-8")), {}
for name, d in dirs.items():
    fast = Tokenizer.from_file(d + "/tokenizer.json")
    auto = AutoTokenizer.from_pretrained(d)
    out[name] = {
        "fast": [fast.encode(t).ids for t in texts],
        "auto": [auto.encode(t) for t in texts],
        "autoCall": auto(texts)["input_ids"],
        "decoded": [auto.decode(auto.encode(t)) for t in texts],
        "eos": [auto.eos_token, auto.eos_token_id],
        "pad": [auto.pad_token, auto.pad_token_id],
        "side": auto.padding_side,
    }
print(json.dumps(out))`,
      { args: [JSON.stringify(dirs), writeTexts()] },
    );
  }, 600_000);

  function writeTexts(): string {
    const path = join(tmp, 'texts.json');
    writeFileSync(path, JSON.stringify(TEXTS));
    return path;
  }

  for (const name of ['bpe (trained by rlhfc on sotu)', 'gpt2', 'characters (trained on moby-dick)']) {
    it(`${name}: tokenizers.Tokenizer and AutoTokenizer give rlhfc's ids on every text`, async () => {
      const tok = kinds[name];
      const g = got[name];
      const reloaded = await loadTokenizer(join(tmp, name.replace(/\W+/g, '_')));
      TEXTS.forEach((t, i) => {
        const want = tok.encode(t);
        expect(reloaded.encode(t), `rlhfc reloaded, text ${i}`).toEqual(want);
        expect(g.fast[i], `tokenizers, text ${i}: ${JSON.stringify(t.slice(0, 60))}`).toEqual(want);
        expect(g.auto[i], `AutoTokenizer.encode, text ${i}: ${JSON.stringify(t.slice(0, 60))}`).toEqual(want);
        expect(g.autoCall[i], `AutoTokenizer(texts), text ${i}`).toEqual(want);
        // an unknown character decodes as U+FFFD in rlhfc and as the token's text "<unk>" in transformers
        expect(g.decoded[i], `AutoTokenizer.decode, text ${i}`).toBe(tok.decode(want).replaceAll('\uFFFD', tok.kind === 'char' ? '<unk>' : '\uFFFD'));
      });
      expect(g.eos).toEqual(['<|endoftext|>', tok.eosId]);
      expect(g.pad).toEqual(['<|endoftext|>', tok.padId]);
      expect(g.side).toBe('right');
      expect(TEXTS.reduce((s, t) => s + tok.encode(t).length, 0)).toBeGreaterThan(5000); // real amounts of text went through
    });
  }
});
