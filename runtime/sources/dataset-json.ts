// The `json(path)` dataset constructor: a JSON array of objects, fields mapped by `fields { ... }`;
// errors name the record index.

import { dataError, datasetPath, fieldsParam, readDatasetFile, toRecord } from '../data/records.ts';
import { fields, kind, limit, path, split, writtenKind } from './dataset-params.ts';
import type { DatasetSource } from './types.ts';

export const json: DatasetSource = {
  name: 'json',
  doc: 'A local JSON file holding an array of records.',
  args: [{ name: 'path', spec: path('Path, relative to the spec file.') }],
  params: { kind: kind(undefined, true), fields, split, limit },
  produces: 'text',
  facts: (p) => ({ kind: writtenKind(p) }),
  async load(spec, baseDir) {
    const where = datasetPath('json', spec.args[0], baseDir);
    const map = fieldsParam(spec.params['fields'], where);
    let raw: unknown;
    try {
      raw = JSON.parse(await readDatasetFile(where));
    } catch (e) {
      if (e instanceof SyntaxError) throw dataError(where, `not valid JSON: ${e.message}`);
      throw e;
    }
    if (!Array.isArray(raw)) throw dataError(where, `expected a JSON array of records, got ${raw === null ? 'null' : typeof raw}`);
    return { records: raw.map((r, i) => toRecord(r, spec.kind, map, `${where}: record ${i}`)), where };
  },
};
