// grpo → TRL `GRPOTrainer` (group-relative advantages, token-level clipped loss, k3 KL).

import type { StageExport } from '../writer.ts';
import { emitGroup, epsilonHigh, groupRows } from './group.ts';
import { rowsOf } from '../rows.ts';
import type { ParamsOf } from '../../../../core/schema.ts';
import type { schema } from '../../../../runtime/stages/grpo.ts';

/** Rows of grpo's parameters, each through an accessor checked against its schema's types. */
const row = rowsOf<ParamsOf<(typeof schema)['params']>>();

export const grpo: StageExport = {
  classes: { trainer: 'GRPOTrainer', config: 'GRPOConfig', module: 'trl', doc: 'TRL `GRPOTrainer` with one reward function per reward source' },
  training: true,
  rows: [
    row((p) => p.beta, {
      into: 'config',
      fields: ['beta', 'use_bias_correction_kl'],
      value: (v) => ({ beta: v, use_bias_correction_kl: true }),
      note: '0 loads no reference model in both; the k3 KL term is weighted by the importance ratio in both (TRL\'s use_bias_correction_kl, its default)',
    }),
    row((p) => p.epsilon, { into: 'config', fields: ['epsilon'] }),
    epsilonHigh,
    row((p) => p.loss_type, { into: 'config', fields: ['loss_type'] }),
    row((p) => p.scale_rewards, { into: 'config', fields: ['scale_rewards'] }),
    ...groupRows,
  ],
  emit: (w) => emitGroup(w, grpo.classes),
};
