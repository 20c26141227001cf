// Compile-time check of users' TypeScript hooks (`fn("./hooks.ts#politeness")`) with ts-morph:
// the file must export a function callable as (prompt: string, response: string) or
// (prompt: string, response: string, record) — record is the prompt's dataset record, an object
// (its `prompt` and the source's other fields, e.g. a reference answer) — returning number or
// Promise<number>. The ts-morph project is created only when a spec uses a hook.

import type { Project as TsProject, Type } from 'ts-morph';
import { createRequire } from 'node:module';

let project: TsProject | undefined;
const cache = new Map<string, string | undefined>();

function getProject(): TsProject {
  if (!project) {
    const require = createRequire(import.meta.url);
    const { Project, ts } = require('ts-morph') as typeof import('ts-morph');
    project = new Project({
      compilerOptions: { strict: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, allowJs: true, noEmit: true, skipLibCheck: true },
      skipAddingFilesFromTsConfig: true,
    });
  }
  return project;
}

function isNumberLike(t: Type): boolean {
  if (t.isNumber() || t.isNumberLiteral()) return true;
  if (t.isUnion()) return t.getUnionTypes().every(isNumberLike);
  return false;
}

function returnsNumber(t: Type): boolean {
  if (isNumberLike(t)) return true;
  const sym = t.getSymbol() ?? t.getAliasSymbol();
  if (sym?.getName() === 'Promise') {
    const [arg] = t.getTypeArguments();
    return arg !== undefined && isNumberLike(arg);
  }
  return false;
}

/** Whether a parameter can take a record object: any, unknown, object, a Record or an object type (or a union holding one). */
function acceptsRecord(t: Type): boolean {
  if (t.isAny() || t.isUnknown()) return true;
  if (t.isUnion()) return t.getUnionTypes().some(acceptsRecord);
  return t.isObject() && t.getCallSignatures().length === 0 && !t.isArray();
}

/**
 * undefined when `file` exports `name` as a compatible function; otherwise what is wrong, in words.
 */
export function checkUserFunction(file: string, name: string): string | undefined {
  const key = `${file}#${name}`;
  if (cache.has(key)) return cache.get(key);
  const result = check(file, name);
  cache.set(key, result);
  return result;
}

function check(file: string, name: string): string | undefined {
  const p = getProject();
  const sf = p.getSourceFile(file) ?? p.addSourceFileAtPath(file);
  const exported = sf.getExportedDeclarations();
  const decls = exported.get(name);
  if (!decls || decls.length === 0) {
    const names = [...exported.keys()];
    return `the file does not export '${name}'${names.length ? ` (it exports: ${names.join(', ')})` : ''}`;
  }
  const type = decls[0].getType();
  const sigs = type.getCallSignatures();
  if (sigs.length === 0) return `'${name}' is not a function (its type is ${type.getText(decls[0])})`;
  const problems: string[] = [];
  for (const sig of sigs) {
    const params = sig.getParameters();
    const required = params.filter((s) => {
      const d = s.getValueDeclaration();
      return !(d && 'hasQuestionToken' in d && (d as unknown as { hasQuestionToken(): boolean }).hasQuestionToken()) && !(d && 'hasInitializer' in d && (d as unknown as { hasInitializer(): boolean }).hasInitializer());
    });
    if (required.length > 3) {
      problems.push(`'${name}' takes ${required.length} required parameters; it is called with (prompt, response) or (prompt, response, record)`);
      continue;
    }
    const bad = params.slice(0, 2).find((s) => {
      const t = s.getTypeAtLocation(sf);
      return !(t.isString() || t.isAny() || t.isUnknown() || (t.isUnion() && t.getUnionTypes().some((u) => u.isString())));
    });
    if (bad) {
      problems.push(`parameter '${bad.getName()}' of '${name}' is ${bad.getTypeAtLocation(sf).getText()}, but it receives a string`);
      continue;
    }
    const record = params[2];
    if (record) {
      const t = record.getTypeAtLocation(sf);
      if (!acceptsRecord(t)) {
        problems.push(`parameter '${record.getName()}' of '${name}' is ${t.getText()}, but it receives the prompt's dataset record (an object such as { prompt: string; answer: string })`);
        continue;
      }
    }
    const ret = sig.getReturnType();
    if (!returnsNumber(ret)) {
      problems.push(`'${name}' returns ${ret.getText()}, but a judge must return number or Promise<number>`);
      continue;
    }
    return undefined;
  }
  return problems[0];
}
