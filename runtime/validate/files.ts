// Reading files back, bounded and validated: the one place every file rlhfc reads goes through.
//
//  - only regular files are read (a folder, FIFO, socket or device — e.g. a link to /dev/zero — is
//    refused by `stat` before anything is opened, so nothing can block or stream forever);
//  - every read has a size cap, checked against the file's size before allocating;
//  - text must be UTF-8 without NUL bytes: a binary file gets one clear error, not a flood;
//  - JSON records are validated with one schema library (zod, schemas in ./schemas.ts), and damage is a
//    UserError naming the file, the field and what to do — never a raw JavaScript error.

import { readFileSync, statSync, type Stats } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { UserError, diag, type Code } from '../../core/diagnostics.ts';

export const MiB = 1024 * 1024;

/** Size caps by what is read (bytes). */
export const LIMITS = {
  spec: 1 * MiB, // specs are written by hand; a larger one is refused before it is lexed
  json: 64 * MiB, // config.json, tokenizer.json, adapter_config.json, store records
  data: 512 * MiB, // a dataset file (V8 strings top out near 512 MiB)
  weights: 4096 * MiB, // a safetensors file (a Node Buffer holds at most 4 GiB)
  hook: 8 * MiB,
} as const;

export interface ReadOptions {
  /** What the file is, for messages: "model config", "dataset file". */
  what: string;
  maxBytes: number;
  /** Diagnostic code (default RLHF9001, cannot read file). */
  code?: Code;
  /** What the user should do, added as a note. */
  fix?: string;
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function fail(o: ReadOptions, path: string, message: string): never {
  throw new UserError([diag(o.code ?? 'RLHF9001', `${path}: ${message}`, undefined, o.fix ? { notes: [o.fix] } : {})]);
}

/**
 * The file's stats if it is a regular file within the cap; a UserError otherwise. Follows symbolic
 * links (a link to a regular file is fine; a link to /dev/zero is a device and refused).
 */
export function statRegular(path: string, o: ReadOptions): Stats {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return fail(o, path, code === 'ENOENT' ? 'file not found' : code === 'ENOTDIR' ? 'file not found (a parent is not a folder)' : `cannot read ${o.what} (${code ?? (e as Error).message})`);
  }
  if (!st.isFile()) fail(o, path, `${o.what} is ${kindOf(st)}, expected a regular file`);
  if (st.size > o.maxBytes) fail(o, path, `${o.what} is ${fmt(st.size)}, more than the ${fmt(o.maxBytes)} rlhfc reads`);
  return st;
}

function readError(o: ReadOptions, path: string, e: unknown): never {
  return fail(o, path, `cannot read ${o.what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
}

/** The bytes of a regular file within the cap. */
export function readBytesSync(path: string, o: ReadOptions): Buffer {
  statRegular(path, o);
  try {
    return readFileSync(path);
  } catch (e) {
    return readError(o, path, e);
  }
}

export async function readBytes(path: string, o: ReadOptions): Promise<Buffer> {
  statRegular(path, o);
  try {
    return await readFile(path);
  } catch (e) {
    return readError(o, path, e);
  }
}

/** Where the first byte that is not text is: a NUL, or invalid UTF-8; -1 when the bytes are UTF-8 text. */
export function firstNonText(bytes: Uint8Array): { offset: number; why: string } | undefined {
  const nul = bytes.indexOf(0);
  let bad = -1;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // find the offset of the first invalid sequence (rare path: only for files that are not UTF-8)
    bad = invalidUtf8At(bytes);
  }
  if (nul < 0 && bad < 0) return undefined;
  if (bad >= 0 && (nul < 0 || bad < nul)) return { offset: bad, why: 'is not UTF-8 text' };
  return { offset: nul, why: 'holds NUL bytes (a binary file?)' };
}

function invalidUtf8At(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i];
    const n = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
    if (n === 0 || i + n > b.length) return i;
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(b.subarray(i, i + n));
    } catch {
      return i;
    }
    i += n;
  }
  return -1;
}

/** Line and column (1-based) of a byte offset, for "binary at 3:14" messages. */
function lineColAt(bytes: Uint8Array, offset: number): string {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset; i++) if (bytes[i] === 10) (line++, (start = i + 1));
  return `${line}:${offset - start + 1}`;
}

/** Decode UTF-8 text (a leading byte-order mark dropped); binary or non-UTF-8 bytes are one clear error. */
export function decodeText(bytes: Uint8Array, path: string, o: ReadOptions): string {
  const bad = firstNonText(bytes);
  if (bad) fail(o, path, `${o.what} ${bad.why} (first at ${lineColAt(bytes, bad.offset)}, byte ${bad.offset}); rlhfc reads UTF-8 text`);
  return new TextDecoder('utf-8').decode(bytes).replace(/^\uFEFF/, '');
}

export function readTextSync(path: string, o: ReadOptions): string {
  return decodeText(readBytesSync(path, o), path, o);
}

export async function readText(path: string, o: ReadOptions): Promise<string> {
  return decodeText(await readBytes(path, o), path, o);
}

/** The value at a schema issue's path, shown briefly (`"llama"`, `1000000000`). */
function valueAt(raw: unknown, path: readonly PropertyKey[]): string | undefined {
  let v: unknown = raw;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  if (v === undefined) return undefined;
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
}

/** Messages for the first few schema problems: `n_layer is 1000000000: Too big: expected number to be <=1024`. */
export function schemaProblems(err: z.ZodError, raw: unknown, max = 5): string[] {
  const out = err.issues.slice(0, max).map((i) => {
    if (!i.path.length) return i.message; // a rule across fields states its own values
    const where = i.path.map(String).join('.');
    const got = valueAt(raw, i.path);
    return got === undefined ? `${where}: ${i.message}` : `${where} is ${got}: ${i.message}`;
  });
  if (err.issues.length > max) out.push(`… and ${err.issues.length - max} more`);
  return out;
}

/** Parse JSON text and validate it; damage is a UserError naming the file, the fields and `o.fix`. */
export function parseJson<T>(text: string, path: string, schema: z.ZodType<T>, o: ReadOptions): T {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return fail(o, path, `invalid JSON (${(e as Error).message.slice(0, 200)}); expected ${o.what} in JSON`);
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const [first, ...more] = schemaProblems(r.error, raw);
    throw new UserError([diag(o.code ?? 'RLHF9001', `${path}: invalid ${o.what}: ${first}`, undefined, { notes: [...more, ...(o.fix ? [o.fix] : [])] })]);
  }
  return r.data;
}

export function readJsonSync<T>(path: string, schema: z.ZodType<T>, o: Omit<ReadOptions, 'maxBytes'> & { maxBytes?: number }): T {
  const opts = { maxBytes: LIMITS.json, ...o };
  return parseJson(readTextSync(path, opts), path, schema, opts);
}

export async function readJson<T>(path: string, schema: z.ZodType<T>, o: Omit<ReadOptions, 'maxBytes'> & { maxBytes?: number }): Promise<T> {
  const opts = { maxBytes: LIMITS.json, ...o };
  return parseJson(await readText(path, opts), path, schema, opts);
}

export function fmt(n: number): string {
  return n >= MiB ? `${(n / MiB).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} bytes`;
}
