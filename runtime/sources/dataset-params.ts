// Parameters every dataset constructor shares: the kind, the held-out split, the record limit and
// the field mapping of file formats.

import { block, float, int, str, DATASET_KINDS, type DatasetKind, type ParamSpec } from '../../core/schema.ts';

export const kind = (def: DatasetKind | undefined, required: boolean, doc = 'What the records are.'): ParamSpec => ({
  ...str(doc, def, DATASET_KINDS),
  required,
});

export const split = block('Held-out split.', 'always', {
  validation: float('Fraction of records held out for validation.', 0.1, 0, 1, { maxExclusive: true }),
  seed: int('Seed of the split (independent of the run seed, so the split never moves).', 0, 0),
});

export const limit = int('Use at most this many records (0: all).', 0, 0);

export const fields = block('Which source field feeds each record field (defaults: the same names).', 'always', {
  text: str('Field holding raw text.', 'text'),
  prompt: str('Field holding the prompt.', 'prompt'),
  response: str('Field holding the response.', 'response'),
  chosen: str('Field holding the preferred response.', 'chosen'),
  rejected: str('Field holding the dispreferred response.', 'rejected'),
  margin: str('Optional field with a preference margin (a number).', 'margin'),
  completion: str('Field holding an unpaired completion.', 'completion'),
  label: str('Field holding an unpaired label: true (desirable) or false (undesirable).', 'label'),
});

export const path = (doc: string): ParamSpec => ({ ...str(doc), required: true });

/** The kind written in the body, if any. */
export const writtenKind = (p: Record<string, unknown>): DatasetKind | undefined => (typeof p['kind'] === 'string' ? (p['kind'] as DatasetKind) : undefined);
