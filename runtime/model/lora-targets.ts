// The projections LoRA can target in each model family, as PEFT names them. No TensorFlow.js here:
// the compiler checks `lora.targets` against a folder's family at compile time (runtime/train/params.ts).

/** GPT-2's block modules (Conv1D). `c_proj` as a target selects both output projections, as in PEFT. */
export const GPT2_LORA_MODULES = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'] as const;
/** The Llama family's block modules (nn.Linear): Llama, Qwen2, Qwen3, Mistral. */
export const LLAMA_LORA_MODULES = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'] as const;

/** A family's block modules (`gpt2`, `llama`, `qwen2`, `qwen3`, `mistral`). */
export function loraModules(family: string): readonly string[] {
  return family === 'gpt2' ? GPT2_LORA_MODULES : LLAMA_LORA_MODULES;
}

/**
 * The targets a `lora { }` block gets when it names none, per family: PEFT 0.21's defaults
 * (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING: gpt2 → c_attn; llama, qwen2, qwen3, mistral →
 * q_proj, v_proj), so rlhfc and the exported PEFT code adapt the same projections.
 */
export function defaultLoraTargets(family: string | undefined): string[] {
  return family === undefined || family === 'gpt2' ? ['c_attn'] : ['q_proj', 'v_proj'];
}


/** Does a target list select a module? Short names (`c_attn`, `q_proj`), full ones (`mlp.c_proj`) and `all-linear`. */
export function selects(targets: readonly string[], module: string): boolean {
  return targets.includes('all-linear') || targets.includes(module) || targets.includes(module.split('.').pop()!);
}

/** Target names valid for a family: `all-linear`, each module's short name and its full name. */
export function validTargets(family: string): string[] {
  const modules = loraModules(family);
  return ['all-linear', ...new Set(modules.map((m) => m.split('.').pop()!)), ...modules];
}

/** The targets of a list that select nothing in this family. */
export function unknownTargets(targets: readonly string[], family: string): string[] {
  return targets.filter((t) => t !== 'all-linear' && !loraModules(family).some((m) => selects([t], m)));
}

/** Every target name of every family (the schema's allowed values; the family check comes after). */
export const ALL_LORA_TARGETS = [...new Set([...validTargets('gpt2'), ...validTargets('llama')])];
