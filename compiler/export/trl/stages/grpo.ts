// grpo → TRL `GRPOTrainer` (group-relative advantages, token-level clipped loss, k3 KL).

import type { StageExport } from '../writer.ts';
import { emitGroup, epsilonHigh, groupRows } from './group.ts';

export const grpo: StageExport = {
  classes: { trainer: 'GRPOTrainer', config: 'GRPOConfig', module: 'trl', doc: 'TRL `GRPOTrainer` with one reward function per reward source' },
  training: true,
  rows: [
    {
      param: 'beta',
      into: 'config',
      fields: ['beta', 'use_bias_correction_kl'],
      value: (v) => ({ beta: v, use_bias_correction_kl: true }),
      note: '0 loads no reference model in both; the k3 KL term is weighted by the importance ratio in both (TRL\'s use_bias_correction_kl, its default)',
    },
    { param: 'epsilon', into: 'config', fields: ['epsilon'] },
    epsilonHigh,
    { param: 'loss_type', into: 'config', fields: ['loss_type'] },
    { param: 'scale_rewards', into: 'config', fields: ['scale_rewards'] },
    ...groupRows,
  ],
  emit: (w) => emitGroup(w, grpo.classes),
};
