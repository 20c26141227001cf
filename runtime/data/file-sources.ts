// File sources: text(path), jsonl(path), json(path). Paths are relative to the spec's folder.

import { LIMITS, readText as readTextChecked } from '../validate/files.ts';
import type { DatasetKind } from '../../core/schema.ts';
import { deriveRecords } from './derive.ts';
import { dataError, toRecord, type DataRecord } from './records.ts';

export async function readText(path: string): Promise<string> {
  // Only a regular UTF-8 text file within the cap: a FIFO or /dev/zero is refused before opening,
  // a binary file is one error.
  return readTextChecked(path, { what: 'dataset file', maxBytes: LIMITS.data });
}

/**
 * text(path): the whole file is one document, or documents separated by `separator` — a literal string,
 * or "blank_line" for one or more empty lines. Documents are trimmed; empty ones dropped.
 */
export async function loadTextFile(path: string, kind: DatasetKind, separator: string | undefined, promptWords: number): Promise<DataRecord[]> {
  const content = await readText(path);
  let docs: string[];
  if (separator === undefined || separator === '') docs = [content];
  else if (separator === 'blank_line') docs = content.split(/\r?\n[ \t]*\r?\n/);
  else docs = content.split(separator);
  docs = docs.map((d) => d.trim()).filter((d) => d.length > 0);
  return deriveRecords(docs, kind, promptWords, path);
}

/** jsonl(path): one JSON object per line (blank lines skipped); errors name the line. */
export async function loadJsonl(path: string, kind: DatasetKind, fields: Record<string, string>): Promise<DataRecord[]> {
  const content = await readText(path);
  const lines = content.split('\n');
  const out: DataRecord[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    const where = `${path}:${i + 1}`;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (e) {
      throw dataError(where, `line ${i + 1} is not valid JSON: ${(e as Error).message}`);
    }
    out.push(toRecord(raw, kind, fields, where));
  });
  return out;
}

/** json(path): a JSON array of objects; errors name the record index. */
export async function loadJson(path: string, kind: DatasetKind, fields: Record<string, string>): Promise<DataRecord[]> {
  const content = await readText(path);
  let raw: unknown;
  try {
    raw = JSON.parse(content);
  } catch (e) {
    throw dataError(path, `not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(raw)) throw dataError(path, `expected a JSON array of records, got ${raw === null ? 'null' : typeof raw}`);
  return raw.map((r, i) => toRecord(r, kind, fields, `${path}: record ${i}`));
}
