// The safetensors format, on plain typed arrays (no TensorFlow.js), so it works without a backend.
//
// Layout: 8-byte little-endian header length N, N bytes of JSON header
//   { "__metadata__": {str: str}, "<name>": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] }, ... }
// then the data buffer; offsets are relative to the start of the data buffer.
// Reading accepts F32, F16 and BF16 (converted to F32), I32 and I64; writing produces F32, I32 or I64.

import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { LIMITS, readBytes } from './validate/files.ts';
import { endianness } from 'node:os';
import { UserError, diag } from '../core/diagnostics.ts';

export type StoredDtype = 'F32' | 'I32' | 'I64';
export type TensorArray = Float32Array | Int32Array | BigInt64Array;

/** A tensor as stored: dtype, shape, and row-major data. */
export interface StTensor {
  dtype: StoredDtype;
  shape: number[];
  data: TensorArray;
}

export interface SafetensorsFile {
  tensors: Map<string, StTensor>;
  metadata: Record<string, string>;
}

const READ_SIZES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8 };
const MAX_HEADER = 100 * 1024 * 1024;

if (endianness() !== 'LE') throw new Error('safetensors.ts assumes a little-endian machine');

const bad = (file: string, message: string): never => {
  throw new UserError([diag('RLHF9003', `${file}: invalid safetensors file: ${message}`)]);
};

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function dtypeOf(data: TensorArray): StoredDtype {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof Int32Array) return 'I32';
  return 'I64';
}

/**
 * Serialize tensors and string metadata into safetensors bytes. Like the reference implementation, tensors
 * are laid out contiguously (no holes, which its reader rejects), widest dtype first then by name, so every
 * tensor is naturally aligned (the header is padded to a multiple of 8 bytes).
 */
export function encodeSafetensors(tensors: Iterable<[string, { shape: readonly number[]; data: TensorArray }]>, metadata: Record<string, string> = {}): Uint8Array {
  const entries = [...tensors].sort(([a, x], [b, y]) => y.data.BYTES_PER_ELEMENT - x.data.BYTES_PER_ELEMENT || (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new Error(`'__metadata__' is not a valid tensor name`);
    if (numel(t.shape) !== t.data.length) throw new Error(`tensor '${name}': shape [${t.shape}] holds ${numel(t.shape)} values but data has ${t.data.length}`);
    const dtype = dtypeOf(t.data);
    header[name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  const headerBytes0 = new TextEncoder().encode(json);
  json += ' '.repeat((8 - (headerBytes0.length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  const base = 8 + headerBytes.length;
  for (const [name, t] of entries) {
    const [begin] = (header[name] as { data_offsets: number[] }).data_offsets;
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), base + begin);
  }
  return out;
}

/** Parse safetensors bytes; `file` names the file in error messages (UserError RLHF9003). */
export function decodeSafetensors(bytes: Uint8Array, file: string): SafetensorsFile {
  if (bytes.length < 8) bad(file, `truncated: ${bytes.length} bytes, less than the 8-byte header length`);
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(bytes.length - 8)) bad(file, `header length ${n64} goes beyond the end of the file (${bytes.length} bytes); the file is truncated or not safetensors`);
  const n = Number(n64);
  if (n > MAX_HEADER) bad(file, `header length ${n} is larger than ${MAX_HEADER} bytes`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    return bad(file, `header is not valid JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) bad(file, 'header is not a JSON object');
  const data = bytes.subarray(8 + n);
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, StTensor>();
  const ranges: [number, number, string][] = [];
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (v === null || typeof v !== 'object') bad(file, '__metadata__ must be an object of strings');
      for (const [k, s] of Object.entries(v as object)) {
        if (typeof s !== 'string') bad(file, `__metadata__.${k} is not a string`);
        metadata[k] = s as string;
      }
      continue;
    }
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!e || typeof e !== 'object') bad(file, `tensor '${name}': entry is not an object`);
    const dtype = String(e.dtype);
    const size = READ_SIZES[dtype];
    if (size === undefined) bad(file, `tensor '${name}': unsupported dtype ${JSON.stringify(e.dtype)} (supported: ${Object.keys(READ_SIZES).join(', ')})`);
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) bad(file, `tensor '${name}': shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0) || off[0] > off[1]) {
      bad(file, `tensor '${name}': data_offsets ${JSON.stringify(off)} must be [begin, end] with 0 ≤ begin ≤ end`);
    }
    const [begin, end] = off as number[];
    if (end > data.length) bad(file, `tensor '${name}': data_offsets [${begin}, ${end}] go beyond the data (${data.length} bytes); the file is truncated`);
    const count = numel(shape as number[]);
    if (end - begin !== count * size) bad(file, `tensor '${name}': ${dtype} shape [${shape}] needs ${count * size} bytes but data_offsets span ${end - begin}`);
    ranges.push([begin, end, name]);
    tensors.set(name, { ...convert(dtype, data.subarray(begin, end), count), shape: shape as number[] });
  }
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let prev: [number, number, string] | undefined; // the non-empty range reaching furthest so far
  for (const r of ranges) {
    if (r[1] === r[0]) continue;
    if (prev && r[0] < prev[1]) bad(file, `tensors '${prev[2]}' [${prev[0]}, ${prev[1]}] and '${r[2]}' [${r[0]}, ${r[1]}] overlap`);
    if (!prev || r[1] > prev[1]) prev = r;
  }
  return { tensors, metadata };
}

function convert(dtype: string, raw: Uint8Array, count: number): { dtype: StoredDtype; data: TensorArray } {
  const copy = new Uint8Array(raw); // a copy in its own (aligned) buffer; Buffer#slice would not copy
  switch (dtype) {
    case 'F32':
      return { dtype: 'F32', data: new Float32Array(copy.buffer, 0, count) };
    case 'I32':
      return { dtype: 'I32', data: new Int32Array(copy.buffer, 0, count) };
    case 'I64':
      return { dtype: 'I64', data: new BigInt64Array(copy.buffer, 0, count) };
    case 'BF16': {
      const src = new Uint16Array(copy.buffer, 0, count);
      const bits = new Uint32Array(count);
      for (let i = 0; i < count; i++) bits[i] = src[i] << 16;
      return { dtype: 'F32', data: new Float32Array(bits.buffer) };
    }
    default: {
      // F16
      const src = new Uint16Array(copy.buffer, 0, count);
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = f16ToF32(src[i]);
      return { dtype: 'F32', data: out };
    }
  }
}

/** IEEE 754 half → single precision (exact). */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Write `data` to `path` atomically: a temporary file in the same folder, then rename. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Write a safetensors file atomically. */
export async function writeSafetensors(path: string, tensors: Iterable<[string, { shape: readonly number[]; data: TensorArray }]>, metadata: Record<string, string> = {}): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/** Read a safetensors file; a missing or unreadable file is a UserError RLHF9001 naming it. */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  // Only a regular file within the cap is read (a folder, FIFO or /dev/zero is refused before opening).
  return decodeSafetensors(await readBytes(path, { what: 'safetensors file', maxBytes: LIMITS.weights }), path);
}
