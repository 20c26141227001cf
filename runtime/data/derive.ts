// Turning plain texts into prompts or (prompt, response) pairs: the first `prompt_words` words of a text
// are the prompt, the rest (with its leading space) the response, so prompt + response === text.

import type { DatasetKind } from '../../core/schema.ts';
import { dataError, type DataRecord } from './records.ts';

export const DEFAULT_PROMPT_WORDS = 4;

/** Split after the n-th word: [prefix, rest], or undefined when the text has n words or fewer. */
export function splitAfterWords(text: string, n: number): [string, string] | undefined {
  const re = /\S+/g;
  let count = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    count++;
    if (count === n) {
      const end = m.index + m[0].length;
      const rest = text.slice(end);
      return /\S/.test(rest) ? [text.slice(0, end), rest] : undefined;
    }
  }
  return undefined;
}

/** Sentences of a text (split after . ! ? followed by whitespace), trimmed, empty ones dropped. */
export function sentences(text: string): string[] {
  return text
    .split(/(?<=[.!?])\s+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/**
 * Records of `kind` from texts: text → {text}; prompts → {prompt: first words}; pairs → {prompt, response}.
 * Texts with `promptWords` words or fewer are skipped for prompts and pairs. Preferences cannot be derived.
 */
export function deriveRecords(texts: readonly string[], kind: DatasetKind, promptWords: number, where: string): DataRecord[] {
  if (kind === 'text') return texts.map((text) => ({ text }));
  if (kind === 'preferences') throw dataError(where, 'a preferences dataset needs chosen/rejected pairs; this source has only plain text (use jsonl/json with fields, or corpus("sentiment"))');
  if (kind === 'unpaired') throw dataError(where, 'an unpaired dataset needs a true/false label per completion; this source has only plain text (use jsonl/json with fields, or corpus("sentiment"))');
  if (!Number.isInteger(promptWords) || promptWords < 1) throw dataError(where, `prompt_words must be a positive integer, got ${promptWords}`);
  const out: DataRecord[] = [];
  for (const t of texts) {
    const s = splitAfterWords(t, promptWords);
    if (!s) continue;
    out.push(kind === 'prompts' ? { prompt: s[0] } : { prompt: s[0], response: s[1] });
  }
  return out;
}
