// Tokens of the .rlhf language (chevrotain). Keywords use `longer_alt: Identifier` so `models`
// or `stage_1` lex as identifiers; the parser accepts keywords as field keys (`model: tiny`).

import { createToken, Lexer, type TokenType } from 'chevrotain';

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r\n]+/, group: Lexer.SKIPPED, line_breaks: true });
export const Comment = createToken({ name: 'Comment', pattern: /(?:#|\/\/)[^\n\r]*/, group: Lexer.SKIPPED });

export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/ });
const kw = (name: string, word: string) => createToken({ name, pattern: new RegExp(word), longer_alt: Identifier });
export const Import = kw('Import', 'import');
export const Dataset = kw('Dataset', 'dataset');
export const Tokenizer = kw('Tokenizer', 'tokenizer');
export const Model = kw('Model', 'model');
export const Stage = kw('Stage', 'stage');
export const Template = kw('Template', 'template');
export const True = kw('True', 'true');
export const False = kw('False', 'false');

/** Ints `64`; floats `0.1`, `.5`, `3.`, `1e-3`, `1.41e-5`, `3E4`. */
export const NumberLit = createToken({ name: 'NumberLit', pattern: /(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/ });
/** Double-quoted string; escapes are decoded (and checked) when building the AST. */
export const StringLit = createToken({ name: 'StringLit', pattern: /"(?:[^"\\\n\r]|\\.)*"/ });
/** A string that reaches the end of the line without its closing quote (reported as RLHF1002). */
export const UnterminatedString = createToken({ name: 'UnterminatedString', pattern: /"(?:[^"\\\n\r]|\\.)*/ });

export const LBrace = createToken({ name: 'LBrace', pattern: /\{/, label: "'{'" });
export const RBrace = createToken({ name: 'RBrace', pattern: /\}/, label: "'}'" });
export const LParen = createToken({ name: 'LParen', pattern: /\(/, label: "'('" });
export const RParen = createToken({ name: 'RParen', pattern: /\)/, label: "')'" });
export const LBracket = createToken({ name: 'LBracket', pattern: /\[/, label: "'['" });
export const RBracket = createToken({ name: 'RBracket', pattern: /\]/, label: "']'" });
export const Colon = createToken({ name: 'Colon', pattern: /:/, label: "':'" });
export const Comma = createToken({ name: 'Comma', pattern: /,/, label: "','" });
export const Dot = createToken({ name: 'Dot', pattern: /\./, label: "'.'" });
export const Equals = createToken({ name: 'Equals', pattern: /=/, label: "'='" });
export const Plus = createToken({ name: 'Plus', pattern: /\+/, label: "'+'" });
export const Minus = createToken({ name: 'Minus', pattern: /-/, label: "'-'" });
export const Star = createToken({ name: 'Star', pattern: /\*/, label: "'*'" });
export const Slash = createToken({ name: 'Slash', pattern: /\//, label: "'/'" });

export const KEYWORDS = [Import, Dataset, Tokenizer, Model, Stage, Template, True, False];

// Order matters: comments before Slash, numbers before Dot, keywords before Identifier.
export const allTokens: TokenType[] = [
  WhiteSpace,
  Comment,
  StringLit,
  UnterminatedString,
  NumberLit,
  ...KEYWORDS,
  Identifier,
  LBrace,
  RBrace,
  LParen,
  RParen,
  LBracket,
  RBracket,
  Colon,
  Comma,
  Dot,
  Equals,
  Plus,
  Minus,
  Star,
  Slash,
];

Identifier.LABEL = 'a name';
True.LABEL = "'true'";
False.LABEL = "'false'";
for (const k of [Import, Dataset, Tokenizer, Model, Stage, Template]) k.LABEL = `'${k.name.toLowerCase()}'`;
NumberLit.LABEL = 'a number';
StringLit.LABEL = 'a string';

export const rlhfLexer = new Lexer(allTokens, { positionTracking: 'full', ensureOptimizations: false });
