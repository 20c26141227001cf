// Byte-level helpers shared by the GPT-2 and trained BPE tokenizers: GPT-2's bytes↔unicode table
// (each byte is shown as one printable character in vocab files) and its pre-tokenization regex.

/** GPT-2's pre-tokenizer: contractions, letters, numbers, other symbols, whitespace. */
export const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Split text into GPT-2 pre-tokens ("words" that BPE never merges across). */
export function preTokenize(text: string): string[] {
  return text.match(GPT2_PATTERN) ?? [];
}

function buildByteTable(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const table: string[] = new Array(256);
  bs.forEach((b, i) => (table[b] = String.fromCodePoint(cs[i])));
  return table;
}

/** BYTE_TO_CHAR[b] is the printable character GPT-2 uses for byte b. */
export const BYTE_TO_CHAR: readonly string[] = buildByteTable();
/** Inverse of BYTE_TO_CHAR. */
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

/** The byte-level string of a token (its bytes mapped through BYTE_TO_CHAR). */
export function bytesToToken(bytes: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += BYTE_TO_CHAR[bytes[i]];
  return s;
}

/** The bytes of a byte-level token string, or undefined if it contains a character outside the table. */
export function tokenToBytes(token: string): number[] | undefined {
  const out: number[] = [];
  for (const ch of token) {
    const b = CHAR_TO_BYTE.get(ch);
    if (b === undefined) return undefined;
    out.push(b);
  }
  return out;
}

export const utf8 = new TextEncoder();
export const utf8Decoder = new TextDecoder('utf-8');
