// rloo → TRL `RLOOTrainer` (leave-one-out baselines, KL in the reward, sequence-level clipped ratio).

import type { StageExport } from '../writer.ts';
import { emitGroup, epsilonHigh, groupRows } from './group.ts';
import { rowsOf } from '../rows.ts';
import type { ParamsOf } from '../../../../core/schema.ts';
import type { schema } from '../../../../runtime/stages/rloo.ts';

/** Rows of rloo's parameters, each through an accessor checked against its schema's types. */
const row = rowsOf<ParamsOf<(typeof schema)['params']>>();

export const rloo: StageExport = {
  classes: { trainer: 'RLOOTrainer', config: 'RLOOConfig', module: 'trl', doc: 'TRL `RLOOTrainer` with one reward function per reward source' },
  training: true,
  rows: [
    row((p) => p.beta, { into: 'config', fields: ['beta'], note: '0 loads no reference model in both' }),
    row((p) => p.epsilon, { into: 'config', fields: ['epsilon'] }),
    epsilonHigh,
    row((p) => p.normalize_advantages, { into: 'config', fields: ['normalize_advantages'] }),
    ...groupRows,
  ],
  emit: (w) => emitGroup(w, rloo.classes),
};
