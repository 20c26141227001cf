// The `text(path)` dataset constructor: a local text file, one document or documents split at a
// separator ("blank_line": one or more empty lines). Documents are trimmed; empty ones dropped.

import { str } from '../../core/schema.ts';
import { deriveRecords } from '../data/derive.ts';
import { dataError, datasetPath, readDatasetFile } from '../data/records.ts';
import { kind, limit, path, split, writtenKind } from './dataset-params.ts';
import type { DatasetSource } from './types.ts';

export const text: DatasetSource = {
  name: 'text',
  doc: 'A local .txt file of raw text.',
  args: [{ name: 'path', spec: path('Path, relative to the spec file.') }],
  params: {
    kind: kind('text', false),
    separator: str('Split the file into documents at this string ("": one document).', ''),
    split,
    limit,
  },
  produces: 'text',
  facts: (p) => ({ kind: writtenKind(p) ?? 'text' }),
  async load(spec, baseDir, promptWords) {
    const where = datasetPath('text', spec.args[0], baseDir);
    const separator = spec.params['separator'];
    if (separator !== undefined && separator !== null && typeof separator !== 'string') throw dataError(where, `separator must be a string`);
    const content = await readDatasetFile(where);
    let docs: string[];
    if (!separator) docs = [content];
    else if (separator === 'blank_line') docs = content.split(/\r?\n[ \t]*\r?\n/);
    else docs = content.split(separator);
    docs = docs.map((d) => d.trim()).filter((d) => d.length > 0);
    return { records: deriveRecords(docs, spec.kind, promptWords, where), where };
  },
};
