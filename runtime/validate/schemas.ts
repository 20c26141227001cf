// Schemas of every file rlhfc reads back (zod, one validator for all): store and run records,
// resumable checkpoints, model configs, tokenizer and adapter files. Readers validate with these
// through ./files.ts, so damage is a clear error naming the file, never a crash deeper down.
//
// Bounds are part of the schema: a size read from a file must be one rlhfc can hold, and is then
// checked against the tensors actually present (runtime/hf-checkpoint.ts) before anything is allocated.

import { z } from 'zod';

const int = (min: number, max: number) => z.number().int().min(min).max(max);
const nodeHash = z.string().regex(/^[0-9A-Za-z_-]{1,128}$/, 'expected a node hash');
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected a sha256 hex digest');

// ---- store (runtime/store.ts) ----------------------------------------------------------------

/** One artifact file of a finished node: its size and sha256, recorded at commit. */
export const FileDigest = z.object({ bytes: int(0, Number.MAX_SAFE_INTEGER), sha256 });

export const NodeRecordSchema = z.looseObject({
  id: z.string(),
  kind: z.string(),
  hash: nodeHash,
  params: z.unknown(),
  metrics: z.record(z.string(), z.unknown()),
  seconds: z.number().nonnegative(),
  spec: z.string().optional(),
  name: z.string().optional(),
  inputs: z.record(z.string(), z.string()).optional(),
  seed: z.number().optional(),
  compiler: z.string().optional(),
  finishedAt: z.string().optional(),
  /** Every artifact file (path relative to the node folder, `/`-separated) → size and sha256. */
  files: z.record(z.string(), FileDigest).optional(),
});

export const RunRecordSchema = z.looseObject({
  id: z.string(),
  spec: z.string(),
  pid: z.number().int(),
  started: z.string(),
  ended: z.string().optional(),
  status: z.enum(['running', 'ok', 'failed', 'interrupted']),
  backend: z.string().optional(),
  seed: z.number(),
  argv: z.array(z.string()),
  stages: z.array(
    z.looseObject({ id: z.string(), name: z.string(), kind: z.string(), hash: z.string().optional(), status: z.string(), seconds: z.number(), peakRssMB: z.number().nonnegative().optional(), headline: z.string() }),
  ),
  error: z.string().optional(),
});

/** What is read of a run's saved plan.json (the report and gc read its nodes). */
export const SavedPlanSchema = z.looseObject({
  spec: z.string(),
  nodes: z.array(z.looseObject({ id: z.string(), hash: z.string(), category: z.string(), kind: z.string(), name: z.string(), inputs: z.record(z.string(), z.unknown()) })),
});

/** One line of a metrics.jsonl. */
export const MetricsRowSchema = z.looseObject({ step: z.number().optional(), split: z.string().optional() });

const length = z.looseObject({ mean: z.number(), p10: z.number(), p50: z.number(), p90: z.number() });
/** An eval stage's report/report.json (runtime/stages/eval.ts), read by the HTML report and `run --seeds`. */
export const EvalReportSchema = z.looseObject({
  judge: z.string(),
  accuracy: z.boolean().optional(),
  results: z.array(
    z.looseObject({
      model: z.string(),
      mean_score: z.number(),
      stderr: z.number(),
      kl: z.number().optional(),
      length_corr: z.number().nullable().optional(),
      degeneration: z.looseObject({ words: length, tokens: length.optional(), empty_rate: z.number(), distinct_1: z.number(), distinct_2: z.number(), repetition_2: z.number() }).optional(),
      flags: z.array(z.string()).optional(),
      samples: z.array(z.looseObject({ prompt: z.string(), response: z.string(), score: z.number() })),
    }),
  ),
});

// ---- resumable checkpoints (runtime/train/checkpoints.ts) ------------------------------------

const RngStateSchema = z.unknown();

export const CheckpointStateSchema = z.object({
  format: z.literal('rlhfc-checkpoint'),
  node: z.string(),
  step: int(0, 1e9),
  weights: z.array(z.string()),
  optimizers: z.array(z.object({ step: int(0, 1e9), names: z.array(z.string()) })),
  rng: z.object({ model: RngStateSchema, lora: RngStateSchema.nullable() }),
  extra: z.record(z.string(), z.unknown()),
  savedAt: z.string(),
  files: z.record(z.string(), FileDigest).optional(),
});

// ---- models (runtime/hf-checkpoint.ts) ----------------------------------------------------------

const prob = z.number().min(0).max(1);

/**
 * GPT-2 config.json. Dimensions are bounded here (nothing larger fits in memory anyway), and then
 * checked against the tensors of model.safetensors before any model is built.
 */
export const Gpt2ConfigSchema = z.looseObject({
  model_type: z.literal('gpt2', { error: 'only "gpt2" models are supported' }),
  vocab_size: int(1, 10_000_000),
  n_positions: int(1, 1_000_000),
  n_embd: int(1, 65_536),
  n_layer: int(1, 1024),
  n_head: int(1, 4096),
  n_inner: int(1, 1_000_000).nullable().optional(),
  resid_pdrop: prob.optional(),
  embd_pdrop: prob.optional(),
  attn_pdrop: prob.optional(),
  summary_first_dropout: prob.optional(),
  layer_norm_epsilon: z.number().positive().max(1).optional(),
  activation_function: z.string().optional(),
  bos_token_id: int(0, 10_000_000).nullable().optional(),
  eos_token_id: z.union([int(0, 10_000_000), z.array(int(0, 10_000_000))]).nullable().optional(),
  num_labels: int(1, 100_000).optional(),
  architectures: z.array(z.string()).nullable().optional(),
}).superRefine((c, ctx) => {
  if (c.n_embd % c.n_head !== 0) ctx.addIssue({ code: 'custom', path: [], message: `n_embd (${c.n_embd}) must be divisible by n_head (${c.n_head})` });
});

/** The Llama-family `model_type`s the runtime computes (runtime/model/llama.ts). */
export const LLAMA_MODEL_TYPES = ['llama', 'qwen2', 'qwen3', 'mistral'] as const;
export const MODEL_TYPES = ['gpt2', ...LLAMA_MODEL_TYPES] as const;
/** transformers 5.18's max_position_embeddings when a config.json leaves it out. */
export const LLAMA_DEFAULT_CONTEXT: Record<(typeof LLAMA_MODEL_TYPES)[number], number> = { llama: 2048, qwen2: 32768, qwen3: 32768, mistral: 131072 };
const modelTypeError = `only ${MODEL_TYPES.map((t) => JSON.stringify(t)).join(', ')} models are supported`;

/**
 * Llama, Qwen2, Qwen3 and Mistral config.json: dimensions bounded; the fields that change the numbers
 * are then checked one by one (runtime/hf-checkpoint.ts checkLlamaConfig) and refused by name.
 */
export const LlamaConfigSchema = z.looseObject({
  model_type: z.enum(LLAMA_MODEL_TYPES, { error: modelTypeError }),
  vocab_size: int(1, 10_000_000),
  hidden_size: int(1, 65_536),
  intermediate_size: int(1, 1_000_000),
  num_hidden_layers: int(1, 1024),
  num_attention_heads: int(1, 4096),
  num_key_value_heads: int(1, 4096).nullable().optional(),
  head_dim: int(1, 65_536).nullable().optional(),
  max_position_embeddings: int(1, 10_000_000).optional(),
  rms_norm_eps: z.number().positive().max(1).optional(),
  rope_theta: z.number().positive().optional(),
  rope_scaling: z.record(z.string(), z.unknown()).nullable().optional(),
  rope_parameters: z.record(z.string(), z.unknown()).nullable().optional(),
  hidden_act: z.string().optional(),
  tie_word_embeddings: z.boolean().optional(),
  attention_bias: z.boolean().optional(),
  mlp_bias: z.boolean().optional(),
  attention_dropout: prob.optional(),
  sliding_window: int(1, 100_000_000).nullable().optional(),
  use_sliding_window: z.boolean().optional(),
  max_window_layers: int(0, 1024).optional(),
  layer_types: z.array(z.string()).nullable().optional(),
  bos_token_id: int(0, 10_000_000).nullable().optional(),
  eos_token_id: z.union([int(0, 10_000_000), z.array(int(0, 10_000_000))]).nullable().optional(),
  pad_token_id: int(0, 10_000_000).nullable().optional(),
  num_labels: int(1, 100_000).optional(),
  architectures: z.array(z.string()).nullable().optional(),
});

/** A model folder's config.json: GPT-2 or one of the Llama family, by `model_type`. */
export const ModelConfigSchema = z.looseObject({ model_type: z.enum(MODEL_TYPES, { error: modelTypeError }) }).superRefine((c, ctx) => {
  const r = (c.model_type === 'gpt2' ? Gpt2ConfigSchema : LlamaConfigSchema).safeParse(c);
  if (!r.success) for (const issue of r.error.issues) ctx.addIssue({ code: 'custom', path: issue.path as (string | number)[], message: issue.message });
});

/**
 * What `rlhfc check` reads of a local model's config.json (its dimensions, for cross-checks against
 * the spec): bounded when present; the full GPT-2 check happens when the runtime loads the folder.
 */
export const ModelFactsSchema = z.looseObject({
  model_type: z.string().optional(),
  vocab_size: int(1, 10_000_000).optional(),
  n_positions: int(1, 1_000_000).optional(),
  n_embd: int(1, 65_536).optional(),
  n_layer: int(1, 1024).optional(),
  n_head: int(1, 4096).optional(),
  max_position_embeddings: int(1, 10_000_000).optional(),
  hidden_size: int(1, 65_536).optional(),
  num_hidden_layers: int(1, 1024).optional(),
  num_attention_heads: int(1, 4096).optional(),
}).superRefine((c, ctx) => {
  if (c.model_type !== undefined && !(MODEL_TYPES as readonly string[]).includes(c.model_type)) ctx.addIssue({ code: 'custom', path: ['model_type'], message: `model_type ${JSON.stringify(c.model_type)}: ${modelTypeError}` });
  if (c.n_embd !== undefined && c.n_head !== undefined && c.n_embd % c.n_head !== 0) ctx.addIssue({ code: 'custom', path: [], message: `n_embd (${c.n_embd}) must be divisible by n_head (${c.n_head})` });
});

/** model.safetensors.index.json of a sharded checkpoint: tensor name → shard file. */
export const ShardIndexSchema = z.looseObject({
  metadata: z.record(z.string(), z.unknown()).nullable().optional(),
  weight_map: z.record(z.string(), z.string().min(1).max(255)),
});

export const AdapterConfigSchema = z.looseObject({
  peft_type: z.literal('LORA', { error: 'peft_type must be "LORA"' }),
  r: int(1, 65_536),
  lora_alpha: z.number().finite(),
  lora_dropout: prob.optional(),
  target_modules: z.array(z.string()),
  base_model_name_or_path: z.string().nullable().optional(),
});

// ---- tokenizers (runtime/tokenizers/) --------------------------------------------------------

export const TokenizerManifestSchema = z.object({
  format: z.literal('rlhfc-tokenizer'),
  version: z.literal(1),
  kind: z.enum(['gpt2', 'bpe', 'char', 'hf']),
  vocab_size: int(1, 10_000_000),
  eos_id: int(0, 10_000_000),
  pad_id: int(0, 10_000_000),
});

const tokenId = int(0, 10_000_000);

/** Hugging Face tokenizer_config.json: the special tokens rlhfc reads (strings or {content} objects) and the chat template. */
const specialToken = z.union([z.string(), z.looseObject({ content: z.string() }), z.null()]).optional();
export const TokenizerConfigSchema = z.looseObject({
  bos_token: specialToken,
  eos_token: specialToken,
  pad_token: specialToken,
  unk_token: specialToken,
  add_bos_token: z.boolean().optional(),
  add_eos_token: z.boolean().optional(),
  chat_template: z.union([z.string(), z.array(z.looseObject({ name: z.string(), template: z.string() }))]).optional(),
});

/**
 * Hugging Face tokenizer.json, the parts rlhfc reads. Ids must also be dense (checked after parsing:
 * every id below the vocabulary's length), so a token id of 1e9 never sizes an array.
 */
export const HfTokenizerSchema = z
  .looseObject({
    model: z.looseObject({
      type: z.string(),
      // checked entry by entry in the refinement below: a zod record of 150k–300k entries takes seconds
      vocab: z.custom<Record<string, number>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'expected an object of token → id'),
      merges: z.array(z.unknown()).optional(),
    }),
    added_tokens: z.array(z.looseObject({ id: tokenId, content: z.string() })).nullable().optional(),
  })
  .superRefine((j, ctx) => {
    const ids = new Set<number>();
    for (const [t, id] of Object.entries(j.model.vocab)) {
      if (!Number.isInteger(id) || id < 0 || id > 10_000_000) {
        ctx.addIssue({ code: 'custom', path: ['model', 'vocab', t], message: `token id ${JSON.stringify(id)} must be an integer in 0…10000000` });
        return;
      }
      ids.add(id);
    }
    for (const [i, m] of (j.model.merges ?? []).entries()) {
      if (typeof m === 'string' || (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string')) continue;
      ctx.addIssue({ code: 'custom', path: ['model', 'merges', i], message: `a merge is a "left right" string or a [left, right] pair, got ${JSON.stringify(m)}` });
      return;
    }
    for (const t of j.added_tokens ?? []) ids.add(t.id);
    let max = -1;
    for (const id of ids) if (id > max) max = id;
    if (max >= ids.size) {
      ctx.addIssue({ code: 'custom', path: ['model', 'vocab'], message: `token id ${max} is beyond the vocabulary's ${ids.size} distinct ids (ids must be 0…${ids.size - 1})` });
    }
  });
