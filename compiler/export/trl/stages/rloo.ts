// rloo → TRL `RLOOTrainer` (leave-one-out baselines, KL in the reward, sequence-level clipped ratio).

import type { StageExport } from '../writer.ts';
import { emitGroup, epsilonHigh, groupRows } from './group.ts';

export const rloo: StageExport = {
  classes: { trainer: 'RLOOTrainer', config: 'RLOOConfig', module: 'trl', doc: 'TRL `RLOOTrainer` with one reward function per reward source' },
  training: true,
  rows: [
    { param: 'beta', into: 'config', fields: ['beta'], note: '0 loads no reference model in both' },
    { param: 'epsilon', into: 'config', fields: ['epsilon'] },
    epsilonHigh,
    { param: 'normalize_advantages', into: 'config', fields: ['normalize_advantages'] },
    ...groupRows,
  ],
  emit: (w) => emitGroup(w, rloo.classes),
};
