// The `jsonl(path)` dataset constructor: one JSON object per line (blank lines skipped), fields
// mapped by `fields { ... }`; errors name the line.

import { dataError, datasetPath, fieldsParam, readDatasetFile, toRecord, type DataRecord } from '../data/records.ts';
import { fields, kind, limit, path, split, writtenKind } from './dataset-params.ts';
import type { DatasetSource } from './types.ts';

export const jsonl: DatasetSource = {
  name: 'jsonl',
  doc: 'A local JSON Lines file: one record per line.',
  args: [{ name: 'path', spec: path('Path, relative to the spec file.') }],
  params: { kind: kind(undefined, true), fields, split, limit },
  produces: 'text',
  facts: (p) => ({ kind: writtenKind(p) }),
  async load(spec, baseDir) {
    const where = datasetPath('jsonl', spec.args[0], baseDir);
    const map = fieldsParam(spec.params['fields'], where);
    const records: DataRecord[] = [];
    (await readDatasetFile(where)).split('\n').forEach((line, i) => {
      if (!line.trim()) return;
      const at = `${where}:${i + 1}`;
      let raw: unknown;
      try {
        raw = JSON.parse(line);
      } catch (e) {
        throw dataError(at, `line ${i + 1} is not valid JSON: ${(e as Error).message}`);
      }
      records.push(toRecord(raw, spec.kind, map, at));
    });
    return { records, where };
  },
};
