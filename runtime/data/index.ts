// Dataset loading: `loadDataset(spec, baseDir)` turns a dataset declaration (source constructor, its
// arguments and body params, the kind the compiler inferred) into records.
//
// Sources and the params they read:
//   text(path)        separator: string ("blank_line" = empty lines; default: whole file is one document),
//                     prompt_words (prompts/pairs)
//   jsonl(path)       fields: { recordField: "sourceField" }
//   json(path)        fields (the file is a JSON array of objects)
//   corpus(name[, subset])  "sotu" | "moby-dick" | "sentiment" (subset "amazon" | "yelp" | "imdb");
//                     prompt_words (default 4), seed (sentiment preferences pairing)
// Every source also reads `limit` (keep the first N records; 0 = all). `kind` and `split` are read by the caller.

import { isAbsolute, resolve } from 'node:path';
import type { DatasetKind, Value } from '../../core/schema.ts';
import { loadCorpus } from './corpora.ts';
import { DEFAULT_PROMPT_WORDS } from './derive.ts';
import { dataError, fieldsParam, type DataRecord } from './records.ts';
import { loadJson, loadJsonl, loadTextFile } from './file-sources.ts';

export * from './records.ts';
export { shuffle, splitDataset, type SplitOptions } from './split.ts';
export { sentimentSentences, SENTIMENT_SOURCES, CORPORA } from './corpora.ts';
export { splitAfterWords, sentences, DEFAULT_PROMPT_WORDS } from './derive.ts';

export const DATA_SOURCES = ['text', 'jsonl', 'json', 'corpus'] as const;

export interface DatasetSpec {
  source: string;
  args: Value[];
  params: Record<string, Value>;
  kind: DatasetKind;
  /** Seed for anything random in loading (sentiment preference pairing); falls back to params.seed, then 0. */
  seed?: number;
}

function stringArg(spec: DatasetSpec, i: number, what: string): string {
  const v = spec.args[i];
  if (typeof v !== 'string' || !v) throw dataError(`${spec.source}(...)`, `argument ${i + 1} must be a ${what} string, got ${JSON.stringify(v ?? null)}`);
  return v;
}

function intParam(spec: DatasetSpec, name: string, def: number | undefined, min: number): number | undefined {
  const v = spec.params[name];
  if (v === undefined || v === null) return def;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw dataError(`${spec.source}(...)`, `${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return v;
}

/** Load the records of a dataset. Relative paths are resolved against `baseDir`. Empty result → error. */
export async function loadDataset(spec: DatasetSpec, baseDir: string): Promise<DataRecord[]> {
  const promptWords = intParam(spec, 'prompt_words', DEFAULT_PROMPT_WORDS, 1)!;
  const limit = intParam(spec, 'limit', 0, 0)!; // 0: all records
  const path = () => {
    const p = stringArg(spec, 0, 'file path');
    return isAbsolute(p) ? p : resolve(baseDir, p);
  };
  let records: DataRecord[];
  let where: string;
  switch (spec.source) {
    case 'text': {
      where = path();
      const sep = spec.params.separator;
      if (sep !== undefined && sep !== null && typeof sep !== 'string') throw dataError(where, `separator must be a string`);
      records = await loadTextFile(where, spec.kind, sep ?? undefined, promptWords);
      break;
    }
    case 'jsonl':
    case 'json': {
      where = path();
      const fields = fieldsParam(spec.params.fields, where);
      records = spec.source === 'jsonl' ? await loadJsonl(where, spec.kind, fields) : await loadJson(where, spec.kind, fields);
      break;
    }
    case 'corpus': {
      const name = stringArg(spec, 0, 'corpus name');
      where = `corpus("${name}")`;
      const subset = spec.args[1];
      if (subset !== undefined && typeof subset !== 'string') throw dataError(where, 'the second argument must be a string');
      const seed = spec.seed ?? (typeof spec.params.seed === 'number' ? spec.params.seed : 0);
      records = loadCorpus(name, { kind: spec.kind, promptWords, seed, subset });
      break;
    }
    default:
      throw dataError(`${spec.source}(...)`, `unknown dataset source '${spec.source}' (expected one of ${DATA_SOURCES.join(', ')})`);
  }
  if (limit > 0) records = records.slice(0, limit);
  if (records.length === 0) {
    const hint = spec.kind === 'prompts' || spec.kind === 'pairs' || spec.kind === 'unpaired' ? ` (for ${spec.kind}, texts need more than prompt_words=${promptWords} words)` : '';
    throw dataError(where, `the ${spec.kind} dataset is empty${hint}`);
  }
  return records;
}
