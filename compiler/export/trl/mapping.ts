// The parameter mapping of the TRL target: every parameter of every stage kind and source
// constructor → its TRL / Transformers / PEFT name, or what the emitted script does with it, or
// why it has no equivalent. Each stage kind's rows live with its script emitter in
// stages/<kind>.ts, the sources' in source-rows.ts; this file assembles them. The emitters read this
// table (they never spell a config field themselves), the README's "Scaling out" table is generated
// from it, and tests check that it covers every schema parameter and that every field it names
// exists in the pinned classes.

import type { ResolvedParams } from '../../../core/schema.ts';
import { lora, loop, optimizer, presentRows, type Row, type StageClasses } from './rows.ts';
import { SOURCE_MAPPING } from './source-rows.ts';
import type { StageExport } from './writer.ts';
import { pretrain } from './stages/pretrain.ts';
import { sft } from './stages/sft.ts';
import { reward } from './stages/reward.ts';
import { dpo } from './stages/dpo.ts';
import { ppo } from './stages/ppo.ts';
import { judge } from './stages/judge.ts';
import { generate } from './stages/generate.ts';
import { evalStage } from './stages/eval.ts';
import { grpo } from './stages/grpo.ts';
import { rloo } from './stages/rloo.ts';
import { kto } from './stages/kto.ts';

export { fieldValues, valueAt, type Into, type Py, type Row } from './rows.ts';
export { SOURCE_MAPPING };

/** Every stage kind the target exports, in the order the README documents them. */
export const STAGE_EXPORTS: Record<string, StageExport> = { pretrain, sft, reward, dpo, ppo, judge, generate, eval: evalStage, grpo, rloo, kto };

/** The trainer and configuration class of each stage kind; script-only stages have none. */
export const STAGE_CLASSES: Record<string, StageClasses> = Object.fromEntries(Object.entries(STAGE_EXPORTS).map(([k, s]) => [k, s.classes]));

export const STAGE_MAPPING: Record<string, Row[]> = Object.fromEntries(Object.entries(STAGE_EXPORTS).map(([k, s]) => [k, s.rows]));

/** Row groups several stage kinds share (the README documents each once). */
export const SHARED_ROWS: Record<string, Row[]> = { 'training loop (pretrain, sft, reward, dpo, kto)': loop, 'optimizer (pretrain, sft, reward, dpo, ppo, grpo, rloo, kto)': optimizer, 'lora (sft, reward, dpo, ppo, grpo, rloo, kto)': lora };

/** The rows of a stage kind whose parameter is present in `p` (lora rows only with a lora block). */
export function rowsFor(kind: string, p: ResolvedParams): Row[] {
  return presentRows(STAGE_MAPPING[kind] ?? [], p);
}
