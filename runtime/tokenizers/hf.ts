// A Hugging Face `tokenizer.json` as the `tokenizers` library reads it, for the model families rlhfc
// runs: byte-level BPE (Llama 3, Qwen2/2.5/3, SmolLM2) and SentencePiece-style BPE with `▁` and byte
// fallback (Llama 2, Mistral). The pipeline is the library's, step by step:
//
//   added tokens split out of the raw text (those with normalized=false), the rest normalized, then
//   added tokens with normalized=true split out of the normalized text; each remaining piece
//   pre-tokenized into words; each word run through the BPE model (merges by rank, leftmost first).
//
// Decoding maps ids to token strings and runs the decoder chain. Every component type outside the
// supported list (WordPiece/Unigram/WordLevel models, Bert normalizers, Whitespace pre-tokenizers, …)
// is refused by name: the caller adds the file's path.
//
// Special tokens in user text: `encode(text)` treats the literal text of a special added token (e.g.
// "<|im_start|>", "<s>") as ordinary text, so data can never inject a turn or document boundary (the
// `tokenizers` library's `encode_special_tokens = True`); `encode(text, { allowSpecial: true })`
// matches them as the library does by default (used for rendered chat templates). Added tokens that are
// not special (e.g. Qwen3's "<think>") are always matched, as they are ordinary vocabulary.

import { BYTE_TO_CHAR, CHAR_TO_BYTE, utf8 } from './bytes.ts';

/** UTF-8 decoding as Rust's from_utf8_lossy: a BOM is kept as text (TextDecoder drops a leading one by default). */
const utf8Lossy = new TextDecoder('utf-8', { ignoreBOM: true });
const utf8Strict = new TextDecoder('utf-8', { ignoreBOM: true, fatal: true });
import { onigRegex, escapeRegex } from './hf-regex.ts';
import type { EncodeOptions, Tokenizer } from './types.ts';
import { writeHfTokenizerFiles } from './files.ts';
import { defaultTemplate, renderChatTemplate, type ChatMessage, type ChatTemplateSource, type RenderOptions } from './chat.ts';

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});

/** GPT-2's pre-tokenization pattern, as the ByteLevel pre-tokenizer writes it (use_regex). */
const BYTE_LEVEL_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** Oniguruma-compatible "is whitespace" (Rust's char::is_whitespace: Unicode White_Space). */
const IS_WS = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/u;
const IS_ALNUM = /^[\p{Alphabetic}\p{N}]$/u;

/** A piece of text on its way through the pipeline; `first` = it starts at offset 0 of the original text. */
interface Piece {
  text: string;
  first: boolean;
}

// ───────────────────────────── normalizers ─────────────────────────────

type Normalize = (s: string) => string;

function stringOrRegex(p: unknown, where: string): RegExp {
  const o = obj(p);
  if (typeof o.String === 'string') return new RegExp(escapeRegex(o.String), 'gu');
  if (typeof o.Regex === 'string') return onigRegex(o.Regex);
  throw new Error(`${where}: pattern must be {"String": …} or {"Regex": …}, got ${JSON.stringify(p)}`);
}

function buildNormalizer(n: unknown): Normalize | undefined {
  if (n === null || n === undefined) return undefined;
  const o = obj(n);
  switch (o.type) {
    case 'Sequence': {
      const steps = (Array.isArray(o.normalizers) ? o.normalizers : []).map(buildNormalizer).filter((f): f is Normalize => !!f);
      return (s) => steps.reduce((acc, f) => f(acc), s);
    }
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD': {
      const form = o.type;
      return (s) => s.normalize(form);
    }
    case 'Lowercase':
      return (s) => s.toLowerCase();
    case 'Prepend': {
      const p = String(o.prepend ?? '');
      return (s) => (s.length ? p + s : s); // the library prepends nothing to an empty string
    }
    case 'Replace': {
      const re = stringOrRegex(o.pattern, 'normalizer Replace');
      const content = String(o.content ?? '');
      return (s) => s.replace(re, () => content);
    }
    case 'Strip': {
      const left = o.strip_left !== false;
      const right = o.strip_right !== false;
      return (s) => {
        const cps = [...s];
        let a = 0;
        let b = cps.length;
        if (left) while (a < b && IS_WS.test(cps[a])) a++;
        if (right) while (b > a && IS_WS.test(cps[b - 1])) b--;
        return cps.slice(a, b).join('');
      };
    }
    default:
      throw new Error(`unsupported normalizer type ${JSON.stringify(o.type)} (rlhfc reads Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace and Strip)`);
  }
}

// ───────────────────────────── pre-tokenizers ─────────────────────────────

/** A pre-tokenizer maps one piece to its sub-pieces (the words, after the last one, that BPE sees). */
type PreTokenize = (p: Piece) => Piece[];

type Behavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';
const BEHAVIORS: readonly string[] = ['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'];

/** Split `p` at the matches of `re` the way `NormalizedString::split` does with `behavior`. */
function splitPiece(p: Piece, re: RegExp, behavior: Behavior, invert = false): Piece[] {
  const s = p.text;
  // (start, end, isMatch) covering the whole string
  const spans: [number, number, boolean][] = [];
  let last = 0;
  re.lastIndex = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    if (m.index > last) spans.push([last, m.index, false]);
    spans.push([m.index, m.index + m[0].length, true]);
    last = m.index + m[0].length;
  }
  if (last < s.length) spans.push([last, s.length, false]);
  if (invert) for (const sp of spans) sp[2] = !sp[2];
  const parts: [number, number][] = [];
  if (behavior === 'Removed') {
    for (const [a, b, m] of spans) if (!m) parts.push([a, b]);
  } else if (behavior === 'Isolated') {
    for (const [a, b] of spans) parts.push([a, b]);
  } else if (behavior === 'Contiguous') {
    let prevMatch = false;
    for (const [a, b, m] of spans) {
      if (m && prevMatch && parts.length) parts[parts.length - 1][1] = b;
      else parts.push([a, b]);
      prevMatch = m;
    }
  } else if (behavior === 'MergedWithPrevious') {
    let prevMatch = false;
    for (const [a, b, m] of spans) {
      if (m && !prevMatch && parts.length) parts[parts.length - 1][1] = b;
      else parts.push([a, b]);
      prevMatch = m;
    }
  } else {
    // MergedWithNext
    let prevMatch = false;
    for (const [a, b, m] of spans) {
      if (prevMatch && !m && parts.length) parts[parts.length - 1][1] = b;
      else parts.push([a, b]);
      prevMatch = m;
    }
  }
  return parts.filter(([a, b]) => b > a).map(([a, b]) => ({ text: s.slice(a, b), first: p.first && a === 0 }));
}

interface PreTokenizerInfo {
  run: PreTokenize;
  /** The ByteLevel step is in the chain: words are byte-level strings. */
  byteLevel: boolean;
}

function buildPreTokenizer(pt: unknown): PreTokenizerInfo {
  if (pt === null || pt === undefined) return { run: (p) => [p], byteLevel: false };
  const o = obj(pt);
  switch (o.type) {
    case 'Sequence': {
      const steps = (Array.isArray(o.pretokenizers) ? o.pretokenizers : []).map(buildPreTokenizer);
      return {
        run: (p) => steps.reduce<Piece[]>((pieces, step) => pieces.flatMap(step.run), [p]),
        byteLevel: steps.some((s) => s.byteLevel),
      };
    }
    case 'Split': {
      const re = stringOrRegex(o.pattern, 'pre_tokenizer Split');
      const behavior = String(o.behavior);
      if (!BEHAVIORS.includes(behavior)) throw new Error(`unsupported Split behavior ${JSON.stringify(o.behavior)} (expected one of ${BEHAVIORS.join(', ')})`);
      const invert = o.invert === true;
      return { run: (p) => splitPiece(p, re, behavior as Behavior, invert), byteLevel: false };
    }
    case 'Digits': {
      const re = o.individual_digits === true ? /\p{N}/gu : /\p{N}+/gu;
      return { run: (p) => splitPiece(p, re, 'Isolated'), byteLevel: false };
    }
    case 'ByteLevel': {
      const re = o.use_regex === false ? undefined : onigRegex(BYTE_LEVEL_PATTERN);
      const prefix = o.add_prefix_space === true;
      return {
        run: (p) => {
          const q = prefix && p.text.length && !p.text.startsWith(' ') ? { ...p, text: ' ' + p.text } : p;
          const words = re ? splitPiece(q, re, 'Isolated') : q.text.length ? [q] : [];
          return words.map((w) => ({ ...w, text: toByteLevel(w.text) }));
        },
        byteLevel: true,
      };
    }
    case 'Metaspace': {
      const rep = metaspaceReplacement(o);
      const scheme = prependScheme(o);
      const split = o.split !== false;
      const splitRe = new RegExp(escapeRegex(rep), 'gu');
      return {
        run: (p) => {
          let t = p.text.replaceAll(' ', rep);
          if (t.length && !t.startsWith(rep) && (scheme === 'always' || (scheme === 'first' && p.first))) t = rep + t;
          const q = { ...p, text: t };
          return split ? splitPiece(q, splitRe, 'MergedWithNext') : t.length ? [q] : [];
        },
        byteLevel: false,
      };
    }
    default:
      throw new Error(`unsupported pre_tokenizer type ${JSON.stringify(o.type)} (rlhfc reads Sequence, Split, Digits, ByteLevel and Metaspace)`);
  }
}

function metaspaceReplacement(o: Json): string {
  const rep = typeof o.replacement === 'string' ? o.replacement : '▁';
  if ([...rep].length !== 1) throw new Error(`Metaspace replacement must be one character, got ${JSON.stringify(rep)}`);
  return rep;
}

function prependScheme(o: Json): 'always' | 'first' | 'never' {
  if (o.prepend_scheme === undefined) return o.add_prefix_space === false ? 'never' : 'always';
  if (o.prepend_scheme === 'always' || o.prepend_scheme === 'first' || o.prepend_scheme === 'never') return o.prepend_scheme;
  throw new Error(`unsupported Metaspace prepend_scheme ${JSON.stringify(o.prepend_scheme)} (expected "first", "always" or "never")`);
}

function toByteLevel(s: string): string {
  const bytes = utf8.encode(s);
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += BYTE_TO_CHAR[bytes[i]];
  return out;
}

// ───────────────────────────── decoders ─────────────────────────────

type Decode = (tokens: string[]) => string[];

function byteLevelDecode(tokens: string[]): string[] {
  const bytes: number[] = [];
  for (const t of tokens) {
    const mine: number[] = [];
    let ok = true;
    for (const ch of t) {
      const b = CHAR_TO_BYTE.get(ch);
      if (b === undefined) {
        ok = false;
        break;
      }
      mine.push(b);
    }
    for (const b of ok ? mine : utf8.encode(t)) bytes.push(b);
  }
  return [utf8Lossy.decode(Uint8Array.from(bytes))];
}

const BYTE_TOKEN = /^<0x([0-9A-F]{2})>$/;

function byteFallbackDecode(tokens: string[]): string[] {
  const out: string[] = [];
  let pending: number[] = [];
  const flush = () => {
    if (!pending.length) return;
    try {
      out.push(utf8Strict.decode(Uint8Array.from(pending)));
    } catch {
      for (let i = 0; i < pending.length; i++) out.push('\ufffd');
    }
    pending = [];
  };
  for (const t of tokens) {
    const m = BYTE_TOKEN.exec(t);
    if (m) pending.push(parseInt(m[1], 16));
    else {
      flush();
      out.push(t);
    }
  }
  flush();
  return out;
}

function buildDecoder(d: unknown): Decode | undefined {
  if (d === null || d === undefined) return undefined;
  const o = obj(d);
  switch (o.type) {
    case 'Sequence': {
      const steps = (Array.isArray(o.decoders) ? o.decoders : []).map(buildDecoder).filter((f): f is Decode => !!f);
      return (ts) => steps.reduce((acc, f) => f(acc), ts);
    }
    case 'ByteLevel':
      return byteLevelDecode;
    case 'ByteFallback':
      return byteFallbackDecode;
    case 'Fuse':
      return (ts) => [ts.join('')];
    case 'Replace': {
      const re = stringOrRegex(o.pattern, 'decoder Replace');
      const content = String(o.content ?? '');
      return (ts) => ts.map((t) => t.replace(re, () => content));
    }
    case 'Strip': {
      const ch = String(o.content ?? ' ');
      const start = Number(o.start ?? 0);
      const stop = Number(o.stop ?? 0);
      return (ts) =>
        ts.map((t) => {
          const cps = [...t];
          let a = 0;
          let b = cps.length;
          while (a < start && a < b && cps[a] === ch) a++;
          for (let k = 0; k < stop && b > a && cps[b - 1] === ch; k++) b--;
          return cps.slice(a, b).join('');
        });
    }
    case 'Metaspace': {
      const rep = metaspaceReplacement(o);
      const scheme = prependScheme(o);
      return (ts) =>
        ts.map((t, i) => {
          const s = t.replaceAll(rep, ' ');
          return i === 0 && scheme !== 'never' && s.startsWith(' ') ? s.slice(1) : s;
        });
    }
    default:
      throw new Error(`unsupported decoder type ${JSON.stringify(o.type)} (rlhfc reads Sequence, ByteLevel, ByteFallback, Fuse, Replace, Strip and Metaspace)`);
  }
}

// ───────────────────────────── post-processor ─────────────────────────────

/** Ids the post-processor puts around a single sequence (TemplateProcessing's `single`). */
function buildPostProcessor(p: unknown): { prefix: number[]; suffix: number[] } {
  const none = { prefix: [], suffix: [] };
  if (p === null || p === undefined) return none;
  const o = obj(p);
  switch (o.type) {
    case 'ByteLevel':
      return none; // offsets only
    case 'Sequence': {
      const all = (Array.isArray(o.processors) ? o.processors : []).map(buildPostProcessor);
      return { prefix: all.flatMap((x) => x.prefix), suffix: all.flatMap((x) => x.suffix) };
    }
    case 'TemplateProcessing': {
      const special = obj(o.special_tokens);
      const out = { prefix: [] as number[], suffix: [] as number[] };
      let seenA = false;
      for (const piece of Array.isArray(o.single) ? o.single : []) {
        const q = obj(piece);
        if (q.Sequence) {
          if (obj(q.Sequence).id !== 'A') throw new Error(`TemplateProcessing single template uses sequence ${JSON.stringify(obj(q.Sequence).id)}; expected only $A`);
          seenA = true;
        } else if (q.SpecialToken) {
          const name = String(obj(q.SpecialToken).id);
          const ids = obj(special[name]).ids;
          if (!Array.isArray(ids) || !ids.every((x) => Number.isInteger(x))) throw new Error(`TemplateProcessing names special token ${JSON.stringify(name)} without its ids`);
          (seenA ? out.suffix : out.prefix).push(...(ids as number[]));
        } else throw new Error(`TemplateProcessing piece ${JSON.stringify(piece)} is neither a Sequence nor a SpecialToken`);
      }
      return out;
    }
    default:
      throw new Error(`unsupported post_processor type ${JSON.stringify(o.type)} (rlhfc reads ByteLevel, TemplateProcessing and Sequence)`);
  }
}

// ───────────────────────────── BPE model ─────────────────────────────

const PAIR = 0x1000000; // pair key = a * PAIR + b (ids < 2^24)

/** A min-heap of merge candidates ordered by (rank, position), as the library's priority queue. */
class MergeQueue {
  private rank: number[] = [];
  private pos: number[] = [];
  get size(): number {
    return this.rank.length;
  }
  private less(i: number, j: number): boolean {
    return this.rank[i] < this.rank[j] || (this.rank[i] === this.rank[j] && this.pos[i] < this.pos[j]);
  }
  private swap(i: number, j: number): void {
    [this.rank[i], this.rank[j]] = [this.rank[j], this.rank[i]];
    [this.pos[i], this.pos[j]] = [this.pos[j], this.pos[i]];
  }
  push(rank: number, pos: number): void {
    this.rank.push(rank);
    this.pos.push(pos);
    for (let i = this.rank.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  pop(): { rank: number; pos: number } {
    const top = { rank: this.rank[0], pos: this.pos[0] };
    const r = this.rank.pop()!;
    const q = this.pos.pop()!;
    const n = this.rank.length;
    if (n) {
      this.rank[0] = r;
      this.pos[0] = q;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        let best = i;
        if (l < n && this.less(l, best)) best = l;
        if (l + 1 < n && this.less(l + 1, best)) best = l + 1;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return top;
  }
}

interface Merge {
  rank: number;
  id: number;
}

/** Merge a word's symbols: repeatedly the lowest-ranked adjacent pair, leftmost first. */
function mergeWord(ids: number[], merges: Map<number, Merge>): number[] {
  const n = ids.length;
  if (n < 2) return ids;
  const id = ids.slice();
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  const q = new MergeQueue();
  const consider = (i: number) => {
    const j = next[i];
    if (j < 0) return;
    const m = merges.get(id[i] * PAIR + id[j]);
    if (m) q.push(m.rank, i);
  };
  for (let i = 0; i + 1 < n; i++) consider(i);
  const dead = new Uint8Array(n);
  while (q.size) {
    const { rank, pos } = q.pop();
    if (dead[pos]) continue;
    const j = next[pos];
    if (j < 0) continue;
    const m = merges.get(id[pos] * PAIR + id[j]);
    if (!m || m.rank !== rank) continue; // stale
    id[pos] = m.id;
    dead[j] = 1;
    next[pos] = next[j];
    if (next[j] >= 0) prev[next[j]] = pos;
    if (prev[pos] >= 0) consider(prev[pos]);
    consider(pos);
  }
  const out: number[] = [];
  for (let i = 0; i >= 0; i = next[i]) out.push(id[i]);
  return out;
}

// ───────────────────────────── added tokens ─────────────────────────────

export interface AddedToken {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** Leftmost-longest matching of a set of literal strings (the library's Aho-Corasick, LeftmostLongest). */
class Matcher {
  private readonly byFirst = new Map<string, { text: string; token: AddedToken }[]>();
  constructor(entries: { text: string; token: AddedToken }[]) {
    for (const e of entries) {
      if (!e.text.length) continue;
      const k = e.text[0];
      let list = this.byFirst.get(k);
      if (!list) this.byFirst.set(k, (list = []));
      list.push(e);
    }
    for (const list of this.byFirst.values()) list.sort((a, b) => b.text.length - a.text.length);
  }
  get empty(): boolean {
    return this.byFirst.size === 0;
  }
  /** Non-overlapping matches, scanning left to right, the longest at each start. */
  *matches(s: string): Generator<{ start: number; end: number; token: AddedToken }> {
    for (let i = 0; i < s.length; ) {
      const list = this.byFirst.get(s[i]);
      const hit = list?.find((e) => s.startsWith(e.text, i));
      if (hit) {
        yield { start: i, end: i + hit.text.length, token: hit.token };
        i += hit.text.length;
      } else i++;
    }
  }
}

/** Split `p` around the added tokens `matcher` finds (the library's `find_matches`). */
function splitAdded(p: Piece, matcher: Matcher, skipSpecial: boolean): (Piece | AddedToken)[] {
  const s = p.text;
  if (matcher.empty || !s.length) return [p];
  const out: (Piece | AddedToken)[] = [];
  let at = 0;
  for (const m of matcher.matches(s)) {
    const t = m.token;
    if (skipSpecial && t.special) continue;
    let { start, end } = m;
    if (t.single_word) {
      const before = [...s.slice(0, start)].pop();
      const after = [...s.slice(end, end + 2)][0];
      if ((before !== undefined && IS_ALNUM.test(before)) || (after !== undefined && IS_ALNUM.test(after))) continue;
    }
    if (t.lstrip) {
      let k = start;
      while (k > at) {
        const cp = s.codePointAt(k - 1)!;
        const ch = String.fromCodePoint(cp >= 0xdc00 && cp <= 0xdfff && k >= 2 ? s.codePointAt(k - 2)! : cp);
        if (!IS_WS.test(ch)) break;
        k -= ch.length;
      }
      start = k;
    }
    if (t.rstrip) {
      while (end < s.length) {
        const ch = String.fromCodePoint(s.codePointAt(end)!);
        if (!IS_WS.test(ch)) break;
        end += ch.length;
      }
    }
    if (start > at) out.push({ text: s.slice(at, start), first: p.first && at === 0 });
    out.push(t);
    at = end;
  }
  if (at < s.length) out.push({ text: s.slice(at), first: p.first && at === 0 });
  return out;
}

const isPiece = (x: Piece | AddedToken): x is Piece => (x as Piece).first !== undefined;

// ───────────────────────────── the tokenizer ─────────────────────────────

/** The special tokens `tokenizer_config.json` names (each a string or an {content} object). */
export interface HfSpecialTokens {
  bos?: string;
  eos?: string;
  pad?: string;
  unk?: string;
}

export interface HfTokenizerOptions {
  /** The file's raw text, kept to be saved back byte for byte. */
  jsonText?: string;
  /** `tokenizer_config.json`, parsed (kept to be saved back; bos/eos/pad/unk and add_bos_token read from it). */
  config?: Json;
  configText?: string;
  /** `chat_template.jinja` beside the files (transformers 5 saves the template there), which takes precedence. */
  chatTemplateText?: string;
}

/** The special-token names transformers passes to a chat template (its SPECIAL_TOKENS_ATTRIBUTES). */
const TEMPLATE_SPECIALS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'];

/** Candidates for end-of-text when `tokenizer_config.json` names none (checked in this order among the special tokens). */
const EOS_NAMES = ['<|endoftext|>', '<|end_of_text|>', '</s>', '<|im_end|>', '<|eot_id|>'];

function tokenName(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  const o = obj(v);
  return typeof o.content === 'string' ? o.content : undefined;
}

/** A Hugging Face tokenizer (kind `hf`): byte-level or SentencePiece-style BPE read from `tokenizer.json`. */
export class HfTokenizer implements Tokenizer {
  readonly kind = 'hf' as const;
  readonly vocabSize: number;
  readonly eosId: number;
  readonly padId: number;
  readonly bosId: number | undefined;
  readonly special: HfSpecialTokens;
  /** The parsed `tokenizer.json` and `tokenizer_config.json` (as read). */
  readonly json: Json;
  readonly config: Json | undefined;
  private readonly jsonText: string | undefined;
  private readonly configText: string | undefined;
  private readonly chatTemplateText: string | undefined;
  private readonly idToToken: string[];
  private readonly vocab: Map<string, number>;
  private readonly merges = new Map<number, Merge>();
  private readonly normalize: Normalize | undefined;
  private readonly pre: PreTokenizerInfo;
  private readonly decoder: Decode | undefined;
  private readonly rawMatcher: Matcher;
  private readonly normMatcher: Matcher;
  private readonly added: AddedToken[];
  private readonly addedIds = new Map<number, AddedToken>();
  private readonly byteFallback: boolean;
  private readonly fuseUnk: boolean;
  private readonly ignoreMerges: boolean;
  private readonly unkId: number | undefined;
  private readonly byteIds: Int32Array;
  /** Ids the post-processor adds around one sequence; rlhfc's pipeline adds `bosId` and eos itself. */
  readonly template: { prefix: number[]; suffix: number[] };
  private cache = new Map<string, number[]>();

  constructor(json: unknown, opts: HfTokenizerOptions = {}) {
    const j = obj(json);
    this.json = j;
    this.config = opts.config;
    this.jsonText = opts.jsonText;
    this.configText = opts.configText;
    this.chatTemplateText = opts.chatTemplateText;
    const model = obj(j.model);
    if (model.type !== 'BPE') {
      throw new Error(`unsupported tokenizer model type ${JSON.stringify(model.type)}: rlhfc reads BPE tokenizers (byte-level as in Llama 3, Qwen and SmolLM, or SentencePiece-style as in Llama 2 and Mistral); WordPiece, Unigram and WordLevel are not supported`);
    }
    if (model.dropout !== null && model.dropout !== undefined && model.dropout !== 0) throw new Error(`BPE dropout ${JSON.stringify(model.dropout)} is not supported (encoding would be random)`);
    for (const k of ['continuing_subword_prefix', 'end_of_word_suffix'] as const) {
      if (model[k] !== null && model[k] !== undefined && model[k] !== '') throw new Error(`BPE ${k} ${JSON.stringify(model[k])} is not supported (Llama, Qwen, Mistral and SmolLM tokenizers have none)`);
    }
    this.byteFallback = model.byte_fallback === true;
    this.fuseUnk = model.fuse_unk === true;
    this.ignoreMerges = model.ignore_merges === true;

    // vocabulary: the model's, then the added tokens (which may repeat some of it)
    this.vocab = new Map();
    let size = 0;
    for (const [t, id] of Object.entries(obj(model.vocab))) {
      if (!Number.isInteger(id) || (id as number) < 0) throw new Error(`invalid token id ${JSON.stringify(id)} for ${JSON.stringify(t)}`);
      this.vocab.set(t, id as number);
      if ((id as number) >= size) size = (id as number) + 1;
    }
    this.added = (Array.isArray(j.added_tokens) ? j.added_tokens : []).map((a): AddedToken => {
      const o = obj(a);
      if (!Number.isInteger(o.id) || typeof o.content !== 'string') throw new Error(`added token ${JSON.stringify(a)} needs an integer id and a content string`);
      return { id: o.id as number, content: o.content, single_word: o.single_word === true, lstrip: o.lstrip === true, rstrip: o.rstrip === true, normalized: o.normalized === true, special: o.special === true };
    });
    for (const a of this.added) {
      if (a.id >= size) size = a.id + 1;
      this.addedIds.set(a.id, a);
    }
    this.vocabSize = size;
    this.idToToken = new Array<string>(size);
    for (const [t, id] of this.vocab) this.idToToken[id] = t;
    for (const a of this.added) this.idToToken[a.id] = a.content;

    const unk = model.unk_token;
    if (unk !== null && unk !== undefined) {
      if (typeof unk !== 'string' || !this.vocab.has(unk)) throw new Error(`BPE unk_token ${JSON.stringify(unk)} is not in the vocabulary`);
      this.unkId = this.vocab.get(unk);
    }

    // merges: "a b" strings or [a, b] pairs, in rank order
    const merges = Array.isArray(model.merges) ? model.merges : [];
    for (let rank = 0; rank < merges.length; rank++) {
      const m = merges[rank];
      let a: string;
      let b: string;
      if (Array.isArray(m) && m.length === 2) [a, b] = m as [string, string];
      else if (typeof m === 'string') {
        const sp = m.indexOf(' ');
        if (sp < 0) throw new Error(`merge ${rank} (${JSON.stringify(m)}) is not "left right"`);
        a = m.slice(0, sp);
        b = m.slice(sp + 1);
      } else throw new Error(`merge ${rank} (${JSON.stringify(m)}) is neither a "left right" string nor a pair`);
      const ia = this.vocab.get(a);
      const ib = this.vocab.get(b);
      const ic = this.vocab.get(a + b);
      if (ia === undefined || ib === undefined) throw new Error(`merge ${rank} (${JSON.stringify(`${a} ${b}`)}) uses a token missing from the vocabulary`);
      if (ic === undefined) throw new Error(`merge ${rank} (${JSON.stringify(`${a} ${b}`)}) produces a token missing from the vocabulary`);
      if (ia >= PAIR || ib >= PAIR) throw new Error(`token ids above ${PAIR - 1} are not supported`);
      const key = ia * PAIR + ib;
      if (!this.merges.has(key)) this.merges.set(key, { rank, id: ic });
    }

    this.normalize = buildNormalizer(j.normalizer);
    // the library keeps a normalized added token under its normalized text (decoding gives that back)
    if (this.normalize) for (const a of this.added) if (a.normalized && !this.vocab.has(a.content)) this.idToToken[a.id] = this.normalize(a.content);
    this.pre = buildPreTokenizer(j.pre_tokenizer);
    this.decoder = buildDecoder(j.decoder);
    this.template = buildPostProcessor(j.post_processor);
    this.byteIds = new Int32Array(256).fill(-1);
    if (this.pre.byteLevel) for (let b = 0; b < 256; b++) this.byteIds[b] = this.vocab.get(BYTE_TO_CHAR[b]) ?? -1;

    const raw = this.added.filter((a) => !a.normalized).map((a) => ({ text: a.content, token: a }));
    const norm = this.added.filter((a) => a.normalized).map((a) => ({ text: this.normalize ? this.normalize(a.content) : a.content, token: a }));
    this.rawMatcher = new Matcher(raw);
    this.normMatcher = new Matcher(norm);

    // special tokens: tokenizer_config.json, else the post-processor and well-known names
    const cfg = opts.config ?? {};
    this.special = { bos: tokenName(cfg.bos_token), eos: tokenName(cfg.eos_token), pad: tokenName(cfg.pad_token), unk: tokenName(cfg.unk_token) };
    const idOf = (what: string, t: string): number => {
      const id = this.tokenToId(t);
      if (id === undefined) throw new Error(`tokenizer_config.json names ${what} ${JSON.stringify(t)}, which is not in the vocabulary`);
      return id;
    };
    if (this.special.eos === undefined) {
      const specials = new Set(this.added.filter((a) => a.special).map((a) => a.content));
      this.special.eos = EOS_NAMES.find((n) => specials.has(n));
      if (this.special.eos === undefined) throw new Error(`no end-of-text token: tokenizer_config.json has no eos_token and none of ${EOS_NAMES.join(', ')} is a special token`);
    }
    this.eosId = idOf('eos_token', this.special.eos);
    this.padId = this.special.pad !== undefined ? idOf('pad_token', this.special.pad) : this.eosId;
    const bosFromConfig = this.special.bos !== undefined ? idOf('bos_token', this.special.bos) : undefined;
    // add_bos_token in tokenizer_config.json overrides the post-processor, as transformers does
    if (cfg.add_bos_token === true) {
      if (bosFromConfig === undefined) throw new Error('tokenizer_config.json sets add_bos_token but names no bos_token');
      this.bosId = bosFromConfig;
    } else if (cfg.add_bos_token === false) this.bosId = undefined;
    else if (this.template.prefix.length > 1) throw new Error(`the post_processor puts ${this.template.prefix.length} tokens before each text; rlhfc supports at most one (a bos token)`);
    else this.bosId = this.template.prefix[0];
    if (this.special.bos === undefined && this.bosId !== undefined) this.special.bos = this.idToToken[this.bosId];
  }

  /** The id of a token string (added tokens first), or undefined. */
  tokenToId(t: string): number | undefined {
    const a = this.added.find((x) => x.content === t);
    return a ? a.id : this.vocab.get(t);
  }

  /** The token string of an id. */
  idToTokenString(id: number): string | undefined {
    return this.idToToken[id];
  }

  get scorePad(): { token: string; id: number } {
    if (this.pre.byteLevel && this.byteIds[0xff] >= 0) return { token: BYTE_TO_CHAR[0xff], id: this.byteIds[0xff] };
    const ff = this.vocab.get('<0xFF>');
    if (this.byteFallback && ff !== undefined) return { token: '<0xFF>', id: ff };
    if (this.unkId !== undefined) return { token: this.idToToken[this.unkId], id: this.unkId };
    return { token: this.idToToken[this.padId], id: this.padId };
  }

  /** The chat template(s): chat_template.jinja, else tokenizer_config.json's chat_template (a string or the named list). */
  get chatTemplate(): ChatTemplateSource | undefined {
    if (this.chatTemplateText !== undefined) return this.chatTemplateText;
    return this.config?.chat_template as ChatTemplateSource | undefined;
  }

  renderChat(messages: readonly ChatMessage[], opts: RenderOptions = {}): string {
    const src = this.chatTemplate;
    if (src === undefined) throw new Error('this tokenizer has no chat template (tokenizer_config.json has no chat_template and there is no chat_template.jinja)');
    const specials: Record<string, string> = {};
    for (const k of TEMPLATE_SPECIALS) {
      const v = tokenName(this.config?.[k]);
      if (v !== undefined) specials[k] = v;
    }
    return renderChatTemplate(defaultTemplate(src), messages, specials, opts);
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    const skipSpecial = !opts.allowSpecial;
    for (const a of splitAdded({ text, first: true }, this.rawMatcher, skipSpecial)) {
      if (!isPiece(a)) {
        out.push(a.id);
        continue;
      }
      const normalized = this.normalize ? { text: this.normalize(a.text), first: a.first } : a;
      for (const b of splitAdded(normalized, this.normMatcher, skipSpecial)) {
        if (!isPiece(b)) {
          out.push(b.id);
          continue;
        }
        for (const w of this.pre.run(b)) for (const id of this.encodeWord(w.text)) out.push(id);
      }
    }
    return out;
  }

  private encodeWord(word: string): number[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    let ids: number[];
    const whole = this.ignoreMerges ? this.vocab.get(word) : undefined;
    if (whole !== undefined) ids = [whole];
    else ids = mergeWord(this.symbols(word), this.merges);
    if (word.length <= 256) {
      if (this.cache.size > 100_000) this.cache = new Map();
      this.cache.set(word, ids);
    }
    return ids;
  }

  /** A word's initial symbols: one per character, byte fallback or unk for characters not in the vocabulary. */
  private symbols(word: string): number[] {
    const out: number[] = [];
    let unk = false; // the last symbol is a fused unk
    for (const ch of word) {
      const id = this.vocab.get(ch);
      if (id !== undefined) {
        out.push(id);
        unk = false;
        continue;
      }
      if (this.byteFallback) {
        const bytes = utf8.encode(ch);
        const ids: number[] = [];
        for (const b of bytes) {
          const bid = this.vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
          if (bid === undefined) break;
          ids.push(bid);
        }
        if (ids.length === bytes.length) {
          out.push(...ids);
          unk = false;
          continue;
        }
      }
      if (this.unkId === undefined) continue; // the library drops a character it cannot represent
      if (!(unk && this.fuseUnk)) out.push(this.unkId);
      unk = true;
    }
    return out;
  }

  decode(ids: readonly number[]): string {
    const tokens: string[] = [];
    for (const id of ids) {
      const t = Number.isInteger(id) ? this.idToToken[id] : undefined;
      if (t === undefined) throw new RangeError(`token id ${id} is outside the vocabulary (size ${this.vocabSize})`);
      tokens.push(t);
    }
    if (!this.decoder) return tokens.join(' ');
    return this.decoder(tokens).join('');
  }

  /** `tokenizer.json` and `tokenizer_config.json` as read (the original text when known), for saving back. */
  files(): { tokenizerJson: string; tokenizerConfig: string | undefined; chatTemplate: string | undefined } {
    return {
      chatTemplate: this.chatTemplateText,
      tokenizerJson: this.jsonText ?? JSON.stringify(this.json),
      tokenizerConfig: this.configText ?? (this.config ? JSON.stringify(this.config, null, 2) + '\n' : undefined),
    };
  }

  async save(dir: string): Promise<void> {
    await writeHfTokenizerFiles(dir, this);
  }
}
