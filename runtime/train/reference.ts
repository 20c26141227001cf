// The frozen reference of the stages that keep a policy near where it started (ppo, grpo, rloo,
// dpo, kto): a model given as its own input, or the policy's starting weights — with LoRA the same
// weights with the adapters switched off for the call (and back on, whatever happens), without LoRA
// a frozen copy when the policy changes while the reference is read, else the policy itself.

import type { CausalLM } from '../model/causal-lm.ts';
import type { ModelArtifact, StageContext } from '../stage-context.ts';
import { openLM, type LM } from './lm.ts';

export interface Reference {
  /** Where the reference comes from, for the stage's note ('reference: the starting weights'). */
  readonly note: string;
  /** Call `f` with the reference model; a LoRA policy's adapters are off during the call only. */
  use<T>(f: (model: CausalLM) => T | Promise<T>): Promise<T>;
  dispose(): void;
}

export interface ReferenceOptions {
  /** A model given as the reference (`reference: sft.model`); absent: the policy's starting weights. */
  given?: ModelArtifact;
  /**
   * Whether the reference is read while the policy trains (ppo, grpo, rloo). Without LoRA the
   * starting weights are then a second, frozen copy of the policy's input; before training (dpo,
   * kto read every reference log-prob first) the policy itself is its starting weights.
   */
  duringTraining: boolean;
  /** The input holding the policy (default 'model'): the copy is opened from it. */
  policyInput?: string;
}

/** Open the reference of `policy` (see ReferenceOptions); dispose it when done. */
export async function openReference(ctx: StageContext, policy: LM, o: ReferenceOptions): Promise<Reference> {
  if (o.given) {
    const ref = await openLM({ ...ctx, inputs: { model: o.given } });
    return { note: 'reference: the given model', use: async (f) => f(ref.model), dispose: () => ref.dispose() };
  }
  const note = 'reference: the starting weights';
  if (!policy.model.lora && o.duringTraining) {
    const copy = await openLM({ ...ctx, inputs: { model: ctx.inputs[o.policyInput ?? 'model'] } });
    return { note, use: async (f) => f(copy.model), dispose: () => copy.dispose() };
  }
  return { note, use: (f) => withoutAdapters(policy.model, f), dispose: () => {} };
}

/** Call `f` with `model`'s LoRA adapters switched off (the base weights), on again afterwards even when `f` throws. */
export async function withoutAdapters<T>(model: CausalLM, f: (model: CausalLM) => T | Promise<T>): Promise<T> {
  const lora = model.lora;
  if (!lora?.enabled) return f(model);
  lora.enabled = false;
  try {
    return await f(model);
  } finally {
    lora.enabled = true;
  }
}
