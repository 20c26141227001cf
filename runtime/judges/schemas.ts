// The judges' argument schemas in plain data, derived from the compiler's source constructors
// (runtime/sources/index.ts JUDGE_SOURCES, the single source of truth) for docs and tools.

import { JUDGE_SOURCES } from '../sources/index.ts';
import type { ParamSpec, Value } from '../../core/schema.ts';

export interface JudgeArgSchema {
  name: string;
  type: 'int' | 'float' | 'string' | 'list';
  default?: Value;
  doc: string;
}
export interface JudgeSchema {
  name: string;
  doc: string;
  args: JudgeArgSchema[];
}

function argType(spec: ParamSpec): JudgeArgSchema['type'] {
  if (spec.type === 'int' || spec.type === 'float' || spec.type === 'list') return spec.type;
  return 'string'; // strings and paths (fn's "file.ts#export")
}

/** One entry per judge constructor: vader, afinn, length, words, fn. */
export const JUDGE_SCHEMAS: Record<string, JudgeSchema> = Object.fromEntries(
  Object.values(JUDGE_SOURCES).map((c) => [
    c.name,
    {
      name: c.name,
      doc: c.doc,
      args: c.args.map((a) => {
        const d = 'default' in a.spec ? (a.spec.default as Value | undefined) : undefined;
        return { name: a.name, type: argType(a.spec), ...(d !== undefined ? { default: d } : {}), doc: a.spec.doc };
      }),
    },
  ]),
);
