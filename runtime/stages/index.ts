// Registry of stage kinds: kind → parameter schema. The compiler loads only schemas (no tfjs);
// the runner loads a stage's `run()` lazily.

import type { StageSchema } from '../../core/schema.ts';
import { schema as pretrain } from './pretrain.ts';
import { schema as sft } from './sft.ts';
import { schema as reward } from './reward.ts';
import { schema as ppo } from './ppo.ts';
import { schema as dpo } from './dpo.ts';
import { schema as grpo } from './grpo.ts';
import { schema as rloo } from './rloo.ts';
import { schema as kto } from './kto.ts';
import { schema as judge } from './judge.ts';
import { schema as generate } from './generate.ts';
import { schema as evalStage } from './eval.ts';

export const STAGE_SCHEMAS: Record<string, StageSchema> = {
  pretrain,
  sft,
  reward,
  ppo,
  dpo,
  grpo,
  rloo,
  kto,
  judge,
  generate,
  eval: evalStage,
};

export const STAGE_KINDS = Object.keys(STAGE_SCHEMAS);
