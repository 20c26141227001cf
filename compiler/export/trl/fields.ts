// Fields of the Python configuration classes the exported code instantiates, and the parameters of
// the trainers it calls, in the pinned versions (versions.ts). Generated data, not typed by hand:
// scripts/trl_fields.py writes fields.json by introspecting the installed packages
// (dataclasses.fields, inspect.signature), and tests/interop/fields.test.ts checks that it matches
// the virtualenv. tests/compiler/export/trl.test.ts checks every keyword the emitted scripts pass against it.

import { readFileSync } from 'node:fs';

export interface FieldList {
  /** The package and version the list was read from ('trl 1.13.0'). */
  package: string;
  /** The Python module defining the class. */
  module: string;
  fields: string[];
}

interface FieldsFile {
  generated_by: string;
  versions: Record<string, string>;
  classes: Record<string, FieldList>;
  signatures: Record<string, { package: string; module: string; parameters: string[] }>;
  has: Record<string, boolean>;
}

const data = JSON.parse(readFileSync(new URL('./fields.json', import.meta.url), 'utf8')) as FieldsFile;

/** The installed versions the lists were generated from. */
export const GENERATED_FROM: Record<string, string> = data.versions;

export const FIELDS: Record<string, FieldList> = data.classes;

/** Keyword parameters of the trainers' constructors. */
export const SIGNATURES = data.signatures;

/** Facts about the packages (`trl.PPOTrainer`: whether TRL still has it). */
export const HAS = data.has;

/** Every field of a class. */
export function fieldsOf(cls: string): Set<string> {
  const f = FIELDS[cls];
  if (!f) throw new Error(`no field list for ${cls} (scripts/trl_fields.py)`);
  return new Set(f.fields);
}
