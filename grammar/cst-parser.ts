// The .rlhf grammar as a chevrotain CstParser (created once, reused). grammar/parse.ts turns
// its CST into the AST of grammar/ast.ts.
//
//   file      := (import | setting | source | stage | template)*
//   import    := 'import' STRING
//   setting   := NAME '=' expr | NAME block        (`seed = 42`, `cluster { gpus: 8 }`)
//   source    := ('dataset' | 'tokenizer' | 'model') NAME '=' NAME ['(' args ')'] [block]
//   stage     := 'stage' NAME ':' NAME ['(' args ')'] block
//   template  := 'template' NAME '(' [param (',' param)* [',']] ')' ':' NAME ['(' args ')'] block
//   param     := NAME ['=' expr]
//   block     := '{' (entry [','])* '}'
//   entry     := key ':' expr | key block            (key: a name or a keyword)
//   expr      := term (('+' | '-') term)*
//   term      := unary (('*' | '/') unary)*
//   unary     := '-' unary | primary
//   primary   := NUMBER | STRING | 'true' | 'false' | list | '(' expr ')' | ref ['(' args ')']
//   ref       := NAME ('.' key)*
//   list      := '[' (expr [','])* ']'
//   args      := (arg [','])*      arg := key ':' expr | expr

import { CstParser, EOF, type IParserErrorMessageProvider, type IToken, type TokenType } from 'chevrotain';
import * as T from './lexer.ts';

const describe = (t: TokenType) => (t === EOF ? 'end of file' : (t.LABEL ?? t.name));
const show = (image: string, type: TokenType) => (type === EOF ? 'end of file' : `'${image}'`);

/** Messages a person can read; the AST builder adds spans and codes. */
const messages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage({ expected, actual, previous }) {
    const after = previous && previous.image ? ` after '${previous.image}'` : '';
    return `expected ${describe(expected)}${after}, found ${show(actual.image, actual.tokenType)}`;
  },
  buildNotAllInputParsedMessage({ firstRedundant }) {
    return `unexpected ${show(firstRedundant.image, firstRedundant.tokenType)}: expected a declaration (import, dataset, tokenizer, model, stage, template or NAME = value)`;
  },
  buildNoViableAltMessage({ expectedPathsPerAlt, actual, ruleName }) {
    const firsts = new Set<string>();
    for (const alt of expectedPathsPerAlt) for (const path of alt) if (path[0]) firsts.add(describe(path[0]));
    const what = RULE_WHAT[ruleName] ?? 'valid syntax';
    const exp = [...firsts];
    return `expected ${what}, found ${show(actual[0].image, actual[0].tokenType)}${exp.length > 1 && exp.length <= 8 ? ` (one of: ${exp.join(', ')})` : ''}`;
  },
  buildEarlyExitMessage({ actual, ruleName }) {
    return `expected ${RULE_WHAT[ruleName] ?? 'valid syntax'}, found ${show(actual[0].image, actual[0].tokenType)}`;
  },
};

const RULE_WHAT: Record<string, string> = {
  file: 'a declaration',
  declaration: 'a declaration (import, dataset, tokenizer, model, stage, template or NAME = value)',
  entry: "a parameter ('name: value' or 'name { ... }')",
  entryRest: "':' or '{' after the parameter name",
  primary: 'a value (number, string, true/false, list, name or call)',
  unary: 'a value (number, string, true/false, list, name or call)',
  term: 'a value (number, string, true/false, list, name or call)',
  expr: 'a value (number, string, true/false, list, name or call)',
  key: 'a parameter name',
  arg: 'an argument',
  sourceKeyword: 'dataset, tokenizer or model',
  // Every rule has a reader's name: internal rule names never reach a message.
  importDecl: 'an import ("file.rlhf")',
  settingDecl: "'=' or '{' after the setting name",
  sourceDecl: 'a dataset, tokenizer or model declaration',
  stageDecl: 'a stage declaration',
  templateDecl: 'a template declaration',
  param: 'a template parameter',
  block: "a block '{ ... }'",
  list: "a list '[ ... ]'",
  paren: "'(' expression ')'",
  refOrCall: 'a name or call',
  callArgs: "arguments '( ... )'",
};

const KEY_TOKENS = [T.Identifier, ...T.KEYWORDS];

class RlhfParser extends CstParser {
  constructor() {
    super(T.allTokens, { recoveryEnabled: true, errorMessageProvider: messages, maxLookahead: 3, nodeLocationTracking: 'onlyOffset' });
    this.performSelfAnalysis();
  }

  file = this.RULE('file', () => {
    this.MANY(() => this.SUBRULE(this.declaration));
  });

  declaration = this.RULE('declaration', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.importDecl) },
      { ALT: () => this.SUBRULE(this.sourceDecl) },
      { ALT: () => this.SUBRULE(this.stageDecl) },
      { ALT: () => this.SUBRULE(this.templateDecl) },
      { ALT: () => this.SUBRULE(this.settingDecl) },
    ]);
  });

  importDecl = this.RULE('importDecl', () => {
    this.CONSUME(T.Import);
    this.CONSUME(T.StringLit);
  });

  settingDecl = this.RULE('settingDecl', () => {
    this.CONSUME(T.Identifier);
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Equals);
          this.SUBRULE(this.expr);
        },
      },
      { ALT: () => this.SUBRULE(this.block) },
    ]);
  });

  sourceKeyword = this.RULE('sourceKeyword', () => {
    this.OR([{ ALT: () => this.CONSUME(T.Dataset) }, { ALT: () => this.CONSUME(T.Tokenizer) }, { ALT: () => this.CONSUME(T.Model) }]);
  });

  sourceDecl = this.RULE('sourceDecl', () => {
    this.SUBRULE(this.sourceKeyword);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.CONSUME(T.Equals);
    this.CONSUME2(T.Identifier, { LABEL: 'callee' });
    this.OPTION(() => this.SUBRULE(this.callArgs));
    this.OPTION2(() => this.SUBRULE(this.block));
  });

  stageDecl = this.RULE('stageDecl', () => {
    this.CONSUME(T.Stage);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.CONSUME(T.Colon);
    this.CONSUME2(T.Identifier, { LABEL: 'base' });
    this.OPTION(() => this.SUBRULE(this.callArgs));
    this.SUBRULE(this.block);
  });

  templateDecl = this.RULE('templateDecl', () => {
    this.CONSUME(T.Template);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.CONSUME(T.LParen);
    this.MANY(() => {
      this.SUBRULE(this.param);
      this.OPTION(() => this.CONSUME(T.Comma));
    });
    this.CONSUME(T.RParen);
    this.CONSUME(T.Colon);
    this.CONSUME2(T.Identifier, { LABEL: 'base' });
    this.OPTION2(() => this.SUBRULE(this.callArgs));
    this.SUBRULE(this.block);
  });

  param = this.RULE('param', () => {
    this.CONSUME(T.Identifier);
    this.OPTION(() => {
      this.CONSUME(T.Equals);
      this.SUBRULE(this.expr);
    });
  });

  block = this.RULE('block', () => {
    this.CONSUME(T.LBrace);
    this.MANY(() => {
      this.SUBRULE(this.entry);
      this.OPTION(() => this.CONSUME(T.Comma));
    });
    this.CONSUME(T.RBrace);
  });

  entry = this.RULE('entry', () => {
    this.SUBRULE(this.key);
    this.SUBRULE(this.entryRest);
  });

  entryRest = this.RULE('entryRest', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Colon);
          this.SUBRULE(this.expr);
        },
      },
      { ALT: () => this.SUBRULE(this.block) },
    ]);
  });

  // Alternatives built once: chevrotain re-evaluates the OR argument on every call.
  private keyAlts?: { ALT: () => IToken }[];
  key = this.RULE('key', () => {
    this.OR((this.keyAlts ??= KEY_TOKENS.map((t) => ({ ALT: () => this.CONSUME(t) }))));
  });

  expr = this.RULE('expr', () => {
    this.SUBRULE(this.term, { LABEL: 'operands' });
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Plus, { LABEL: 'ops' }) }, { ALT: () => this.CONSUME(T.Minus, { LABEL: 'ops' }) }]);
      this.SUBRULE2(this.term, { LABEL: 'operands' });
    });
  });

  term = this.RULE('term', () => {
    this.SUBRULE(this.unary, { LABEL: 'operands' });
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Star, { LABEL: 'ops' }) }, { ALT: () => this.CONSUME(T.Slash, { LABEL: 'ops' }) }]);
      this.SUBRULE2(this.unary, { LABEL: 'operands' });
    });
  });

  unary = this.RULE('unary', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Minus);
          this.SUBRULE(this.unary);
        },
      },
      { ALT: () => this.SUBRULE(this.primary) },
    ]);
  });

  primary = this.RULE('primary', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.NumberLit) },
      { ALT: () => this.CONSUME(T.StringLit) },
      { ALT: () => this.CONSUME(T.True) },
      { ALT: () => this.CONSUME(T.False) },
      { ALT: () => this.SUBRULE(this.list) },
      { ALT: () => this.SUBRULE(this.paren) },
      { ALT: () => this.SUBRULE(this.refOrCall) },
    ]);
  });

  paren = this.RULE('paren', () => {
    this.CONSUME(T.LParen);
    this.SUBRULE(this.expr);
    this.CONSUME(T.RParen);
  });

  refOrCall = this.RULE('refOrCall', () => {
    this.CONSUME(T.Identifier, { LABEL: 'head' });
    this.OR([
      { ALT: () => this.SUBRULE(this.callArgs) },
      {
        ALT: () =>
          this.MANY(() => {
            this.CONSUME(T.Dot);
            this.SUBRULE(this.key, { LABEL: 'tail' });
          }),
      },
    ]);
  });

  list = this.RULE('list', () => {
    this.CONSUME(T.LBracket);
    this.MANY(() => {
      this.SUBRULE(this.expr);
      this.OPTION(() => this.CONSUME(T.Comma));
    });
    this.CONSUME(T.RBracket);
  });

  callArgs = this.RULE('callArgs', () => {
    this.CONSUME(T.LParen);
    this.MANY(() => {
      this.SUBRULE(this.arg);
      this.OPTION(() => this.CONSUME(T.Comma));
    });
    this.CONSUME(T.RParen);
  });

  arg = this.RULE('arg', () => {
    this.OR([
      {
        GATE: () => this.LA(2).tokenType === T.Colon,
        ALT: () => {
          this.SUBRULE(this.key);
          this.CONSUME(T.Colon);
          this.SUBRULE(this.expr);
        },
      },
      { ALT: () => this.SUBRULE2(this.expr) },
    ]);
  });
}

/** The one parser instance (chevrotain parsers are built once and reset per input). */
export const parser = new RlhfParser();
