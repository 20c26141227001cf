// Dataset record types and the checks that turn raw JSON objects into them.

import { UserError, diag } from '../../core/diagnostics.ts';
import type { DatasetKind, Value } from '../../core/schema.ts';
import { isAbsolute, resolve } from 'node:path';
import { LIMITS, readText } from '../validate/files.ts';

export interface TextRecord {
  text: string;
}
export interface PairRecord {
  prompt: string;
  response: string;
}
export interface PreferenceRecord {
  prompt: string;
  chosen: string;
  rejected: string;
  margin?: number;
}
export interface PromptRecord {
  prompt: string;
}
/** A thumbs-up (label true) or thumbs-down (label false) completion of a prompt, for KTO. */
export interface UnpairedRecord {
  prompt: string;
  completion: string;
  label: boolean;
}
export type DataRecord = TextRecord | PairRecord | PreferenceRecord | PromptRecord | UnpairedRecord;

/** The record type for each dataset kind. */
export interface RecordOf {
  text: TextRecord;
  pairs: PairRecord;
  preferences: PreferenceRecord;
  prompts: PromptRecord;
  unpaired: UnpairedRecord;
}

/** Required string fields of each kind (preferences also accept an optional numeric `margin`; unpaired also needs a boolean `label`). */
export const KIND_FIELDS: Record<DatasetKind, readonly string[]> = {
  text: ['text'],
  pairs: ['prompt', 'response'],
  preferences: ['prompt', 'chosen', 'rejected'],
  prompts: ['prompt'],
  unpaired: ['prompt', 'completion'],
};

/** A data error (RLHF9002) whose message starts with `file:line:` (or `file:`) so it reads like a compiler error. */
export function dataError(where: string, message: string, notes?: string[]): UserError {
  return new UserError([diag('RLHF9002', `${where}: ${message}`, undefined, notes ? { notes } : {})]);
}

/** A missing or unreadable file (RLHF9001). */
export function fileError(path: string, message: string): UserError {
  return new UserError([diag('RLHF9001', `${path}: ${message}`)]);
}

function lookup(obj: Record<string, unknown>, path: string): unknown {
  if (path in obj) return obj[path];
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/**
 * Build a record of `kind` from a raw JSON value. `fields` maps record fields to source fields
 * ({prompt: "question"}; dotted paths reach into nested objects). `where` locates it ("data.jsonl:12").
 */
export function toRecord(raw: unknown, kind: DatasetKind, fields: Record<string, string>, where: string): DataRecord {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw dataError(where, `expected a JSON object, got ${Array.isArray(raw) ? 'an array' : raw === null ? 'null' : typeof raw}`);
  }
  const obj = raw as Record<string, unknown>;
  const out: Record<string, string | number> = {};
  for (const f of KIND_FIELDS[kind]) {
    const src = fields[f] ?? f;
    const v = lookup(obj, src);
    const named = src === f ? `'${f}'` : `'${src}' (mapped to '${f}')`;
    if (v === undefined) {
      const have = Object.keys(obj);
      throw dataError(where, `missing field ${named} for a ${kind} record`, [`the record has: ${have.length ? have.join(', ') : '(no fields)'}`]);
    }
    if (typeof v !== 'string') throw dataError(where, `field ${named} must be a string, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`);
    out[f] = v;
  }
  if (kind === 'preferences') {
    const src = fields.margin ?? 'margin';
    const m = lookup(obj, src);
    if (m !== undefined && m !== null) {
      if (typeof m !== 'number' || !Number.isFinite(m)) throw dataError(where, `field '${src}' (margin) must be a number, got ${JSON.stringify(m)}`);
      out.margin = m;
    }
  }
  if (kind === 'prompts') {
    // A prompt keeps its record's other top-level scalar fields (e.g. a reference answer): user
    // reward functions receive the record as their third argument.
    const used = new Set([fields.prompt ?? 'prompt']);
    for (const [k, v] of Object.entries(obj)) {
      if (used.has(k) || k in out || !(typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)))) continue;
      (out as Record<string, unknown>)[k] = v;
    }
  }
  if (kind === 'unpaired') {
    const src = fields.label ?? 'label';
    const l = lookup(obj, src);
    const named = src === 'label' ? `'label'` : `'${src}' (mapped to 'label')`;
    if (typeof l !== 'boolean') {
      throw dataError(where, l === undefined ? `missing field ${named} for an unpaired record` : `field ${named} must be true (desirable) or false (undesirable), got ${JSON.stringify(l)}`, [
        l === undefined ? `the record has: ${Object.keys(obj).join(', ') || '(no fields)'}` : 'labels are JSON booleans: true = thumbs up, false = thumbs down',
      ]);
    }
    (out as Record<string, unknown>).label = l;
  }
  return out as unknown as DataRecord;
}

/** Read the `fields` param: an object of strings, or nothing. */
export function fieldsParam(v: Value | undefined, where: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw dataError(where, `'fields' must map record fields to source fields, e.g. { prompt: "question" }`);
  const out: Record<string, string> = {};
  for (const [k, s] of Object.entries(v)) {
    if (typeof s !== 'string') throw dataError(where, `fields.${k} must be a string naming a source field`);
    out[k] = s;
  }
  return out;
}

/** A dataset file's text: only a regular UTF-8 file within the cap (a FIFO or /dev/zero is refused before opening, a binary file is one error). */
export async function readDatasetFile(path: string): Promise<string> {
  return readText(path, { what: 'dataset file', maxBytes: LIMITS.data });
}

/** Resolve a dataset constructor's path argument against the spec's folder. */
export function datasetPath(source: string, arg: Value | undefined, baseDir: string): string {
  if (typeof arg !== 'string' || !arg) throw dataError(`${source}(...)`, `argument 1 must be a file path string, got ${JSON.stringify(arg ?? null)}`);
  return isAbsolute(arg) ? arg : resolve(baseDir, arg);
}
