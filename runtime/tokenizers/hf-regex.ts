// Translating the regular expressions of Hugging Face `tokenizer.json` files (written for Oniguruma, the
// engine the `tokenizers` library uses) into JavaScript `u`-flag regexes with the same matches:
//
//  - `\s` / `\S`: Oniguruma's Unicode White_Space (it has U+0085, JavaScript's `\s` has not; JavaScript's
//    has U+FEFF, Oniguruma's has not), written out as an explicit class;
//  - `\d`, `\w`: Unicode in Oniguruma (`\p{Nd}`, letters/marks/digits/connectors), ASCII in JavaScript;
//  - `(?i:...)`: inline case-insensitive groups (Llama 3's and Qwen's contractions) — Node 20 has no
//    inline modifiers, so each ASCII letter inside becomes `[xX]`;
//  - anything JavaScript cannot express the same way (possessive quantifiers, atomic groups, other
//    inline flags, `\h`, `\A`, `\z`…) is refused with the pattern named, never approximated.

/** Unicode White_Space (what Oniguruma's `\s` matches), as the inside of a character class. */
export const WHITE_SPACE = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const WORD = '\\p{L}\\p{M}\\p{Nd}\\p{Pc}';

const caseBoth = (ch: string): string => (/[a-zA-Z]/.test(ch) ? ch.toLowerCase() + ch.toUpperCase() : ch);

/** The JavaScript source (for `new RegExp(src, 'gu')`) of an Oniguruma pattern; throws naming what is unsupported. */
export function translateRegex(pattern: string): string {
  let out = '';
  let inClass = false;
  const groups: boolean[] = []; // per open group: case-insensitive?
  const ci = (): boolean => groups.includes(true);
  const unsupported = (what: string): never => {
    throw new Error(`the regular expression ${JSON.stringify(pattern)} uses ${what}, which rlhfc cannot translate exactly to JavaScript`);
  };
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      const n = pattern[i + 1];
      if (n === undefined) unsupported('a trailing backslash');
      i++;
      if (n === 's') out += inClass ? WHITE_SPACE : `[${WHITE_SPACE}]`;
      else if (n === 'S') out += inClass ? unsupported('\\S inside a character class') : `[^${WHITE_SPACE}]`;
      else if (n === 'd') out += inClass ? '\\p{Nd}' : '\\p{Nd}';
      else if (n === 'D') out += inClass ? unsupported('\\D inside a character class') : '\\P{Nd}';
      else if (n === 'w') out += inClass ? WORD : `[${WORD}]`;
      else if (n === 'W') out += inClass ? unsupported('\\W inside a character class') : `[^${WORD}]`;
      else if (n === 'p' || n === 'P') {
        const end = pattern.indexOf('}', i);
        if (pattern[i + 1] !== '{' || end < 0) unsupported(`\\${n} without {…}`);
        out += pattern.slice(i - 1, end + 1);
        i = end;
      } else if ('hHAzZGRXKy'.includes(n) || /[0-9]/.test(n)) unsupported(`\\${n}`);
      else if (ci() && !inClass && /[a-zA-Z]/.test(n) && !'trnfvx'.includes(n)) unsupported(`\\${n} inside (?i:…)`);
      else out += '\\' + n;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      if (c === '[') unsupported('a nested character class');
      out += ci() && /[a-zA-Z]/.test(c) && pattern[i - 1] !== '-' && pattern[i + 1] !== '-' ? caseBoth(c) : c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      if (pattern[i + 1] === '^') {
        out += '^';
        i++;
      }
      if (pattern[i + 1] === ']') {
        out += '\\]';
        i++;
      }
      continue;
    }
    if (c === '(') {
      if (pattern[i + 1] === '?') {
        const rest = pattern.slice(i + 2);
        if (rest.startsWith(':') || rest.startsWith('=') || rest.startsWith('!') || rest.startsWith('<=') || rest.startsWith('<!')) {
          groups.push(false);
          out += c;
          continue;
        }
        if (rest.startsWith('i:')) {
          groups.push(true);
          out += '(?:';
          i += 3;
          continue;
        }
        unsupported(`the group "(?${rest.slice(0, 2)}"`);
      }
      groups.push(false);
      out += c;
      continue;
    }
    if (c === ')') {
      groups.pop();
      out += c;
      continue;
    }
    if ((c === '+' || c === '?' || c === '*' || c === '}') && pattern[i + 1] === '+') unsupported('a possessive quantifier');
    out += ci() && /[a-zA-Z]/.test(c) ? `[${caseBoth(c)}]` : c;
  }
  try {
    new RegExp(out, 'gu');
  } catch (e) {
    unsupported(`syntax JavaScript rejects (${(e as Error).message})`);
  }
  return out;
}

/** A global unicode RegExp for an Oniguruma pattern. */
export function onigRegex(pattern: string): RegExp {
  return new RegExp(translateRegex(pattern), 'gu');
}

/** Escape a literal string for use in a RegExp. */
export function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\\/]/g, '\\$&');
}
