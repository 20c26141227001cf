// Pretraining data: token streams packed into fixed-length blocks.

export interface PackOptions {
  /** Drop the last, incomplete block (default true). When false it is returned shorter (≥ 2 tokens). */
  dropRemainder?: boolean;
}

/**
 * Concatenate documents with `eosId` after each one and cut the stream into blocks of `blockSize + 1`
 * tokens (inputs = block[0..blockSize), targets = block[1..blockSize]). Consecutive blocks overlap by
 * one token so every position of the stream is a target exactly once.
 */
export function packBlocks(docs: readonly (readonly number[])[], blockSize: number, eosId: number, opts: PackOptions = {}): Int32Array[] {
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new RangeError(`block size must be a positive integer, got ${blockSize}`);
  let total = 0;
  for (const d of docs) total += d.length + 1;
  const stream = new Int32Array(total);
  let o = 0;
  for (const d of docs) {
    stream.set(d, o);
    o += d.length;
    stream[o++] = eosId;
  }
  const blocks: Int32Array[] = [];
  let start = 0;
  for (; start + blockSize + 1 <= stream.length; start += blockSize) blocks.push(stream.slice(start, start + blockSize + 1));
  if (!(opts.dropRemainder ?? true) && stream.length - start >= 2) blocks.push(stream.slice(start));
  return blocks;
}
