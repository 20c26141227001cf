// The TRL mapping rows of the source constructors and settings: dataset and tokenizer constructors
// are implemented by prepare_data.py and train_tokenizers.py, models by the stage scripts.
// mapping.ts puts them in the table with the stage kinds' rows; the writer reads the model and
// setting rows from here.

import type { Row } from './rows.ts';
import { expr } from './py.ts';

/** What every dataset source maps to: limit and split, done by prepare_data.py as the runtime does. */
const DATASET_COMMON: Row[] = [
  { param: 'limit', script: 'prepare_data.py keeps the first N records' },
  { param: 'split.validation', script: 'prepare_data.py: same held-out records (a port of the runtime\'s seeded shuffle)' },
  { param: 'split.seed', script: 'prepare_data.py: split seed' },
];

/** `jsonl(path)` and `json(path)`: the file is copied and its fields mapped. */
const DATASET_FILE: Row[] = [
  { param: 'path', script: 'copied to data/sources/' },
  { param: 'kind', script: 'prepare_data.py builds records of this kind' },
  { param: 'fields.*', script: 'prepare_data.py applies the same field mapping (dotted paths)' },
  ...DATASET_COMMON,
];

export const SOURCE_MAPPING: Record<string, Row[]> = {
  'model gpt': [
    { param: 'layers', into: 'gpt2', fields: ['n_layer'] },
    { param: 'heads', into: 'gpt2', fields: ['n_head'] },
    { param: 'width', into: 'gpt2', fields: ['n_embd'] },
    { param: 'context', into: 'gpt2', fields: ['n_positions'] },
    { param: 'dropout', into: 'gpt2', fields: ['resid_pdrop', 'embd_pdrop', 'attn_pdrop'], value: (v) => ({ resid_pdrop: v, embd_pdrop: v, attn_pdrop: v }) },
  ],
  'model llama': [
    { param: 'family', script: 'the config and model classes: LlamaConfig, Qwen2Config, Qwen3Config or MistralConfig, with its ForCausalLM (ForSequenceClassification for a reward or value model)' },
    { param: 'layers', into: 'llama', fields: ['num_hidden_layers'] },
    { param: 'heads', into: 'llama', fields: ['num_attention_heads'] },
    { param: 'kv_heads', into: 'llama', fields: ['num_key_value_heads'], value: (v, p) => ({ num_key_value_heads: (v as number) || (p['heads'] as number) }), note: '0 becomes heads' },
    { param: 'width', into: 'llama', fields: ['hidden_size'] },
    {
      param: 'head_dim',
      into: 'llama',
      fields: ['head_dim'],
      value: (v, p) => ({ head_dim: (v as number) || Math.floor((p['width'] as number) / (p['heads'] as number)) }),
      note: '0 becomes width / heads; Qwen2Config has no head_dim field, so the script sets it on the config (Qwen2 reads config.head_dim)',
    },
    { param: 'intermediate', into: 'llama', fields: ['intermediate_size'], value: (v, p) => ({ intermediate_size: (v as number) || Math.ceil((8 * (p['width'] as number)) / 3 / 8) * 8 }), note: '0 becomes about 8/3 · width, rounded up to a multiple of 8' },
    { param: 'context', into: 'llama', fields: ['max_position_embeddings'] },
    { param: 'rope_theta', into: 'llama', fields: ['rope_parameters'], value: (v) => ({ rope_parameters: { rope_type: 'default', rope_theta: Number.isInteger(v) ? expr(`${v as number}.0`) : v } }) },
    { param: 'rms_norm_eps', into: 'llama', fields: ['rms_norm_eps'] },
    { param: 'tie', into: 'llama', fields: ['tie_word_embeddings'] },
    { param: 'dropout', into: 'llama', fields: ['attention_dropout'] },
  ],
  'model load': [{ param: 'path', script: '`from_pretrained` on the folder (referenced, not copied)' }],
  'model hf': [{ param: 'id', script: '`from_pretrained` on the Hub id or folder' }],
  'tokenizer gpt2': [],
  'tokenizer bpe': [{ param: 'vocab_size', script: '`tokenizers` BpeTrainer(vocab_size) on the training split, byte-level' }],
  'tokenizer chars': [],
  'dataset corpus': [
    { param: 'name', script: 'the corpus is written out as JSONL under data/sources/' },
    { param: 'kind', script: 'records of this kind (the corpus is written in it)' },
    { param: 'prompt_words', script: 'applied when the corpus is written out' },
    ...DATASET_COMMON,
  ],
  'dataset text': [
    { param: 'path', script: 'copied to data/sources/' },
    { param: 'kind', script: 'prepare_data.py derives records of this kind' },
    { param: 'separator', script: 'prepare_data.py splits documents the same way' },
    ...DATASET_COMMON,
  ],
  'dataset jsonl': DATASET_FILE,
  'dataset json': DATASET_FILE,
  'judge vader': [],
  'judge afinn': [{ param: 'per_token', script: 'rlhf_export/judges.py `afinn(per_token)` (the AFINN-165 lexicon of npm `sentiment`, shipped as afinn.json)' }],
  'judge length': [{ param: 'target', script: 'rlhf_export/judges.py `length(target)`' }],
  'judge words': [{ param: 'list', script: 'rlhf_export/judges.py `words(list)`' }],
  'judge fn': [{ param: 'ref', script: 'the file is copied to hooks/ and run by Node.js + tsx in a subprocess (rlhf_export/ts_judge.mjs); it receives (prompt, response, record) as locally', note: 'the project needs Node.js >= 20 and `npm install tsx`; a hook that imports other local files needs them copied too' }],
  'setting seed': [{ param: 'seed', into: 'config', fields: ['seed', 'data_seed', 'full_determinism'], value: (v) => ({ seed: v, data_seed: v, full_determinism: expr('common.deterministic()') }), script: 'also seeds sampling in the script-only stages; `full_determinism` when the export runs with RLHF_DETERMINISTIC=1 (`--deterministic`)' }],
  'setting artifacts': [{ param: 'artifacts', script: 'not used: stage outputs go to outputs/<stage>/ in the project' }],
  'setting cluster': [
    { param: 'cluster.gpus', script: 'accelerate.yaml `num_processes` = gpus × nodes' },
    { param: 'cluster.nodes', script: 'accelerate.yaml `num_machines`' },
    { param: 'cluster.strategy', script: 'accelerate.yaml: `ddp` MULTI_GPU, `zero2`/`zero3` DEEPSPEED with that ZeRO stage, `fsdp` FSDP' },
    { param: 'cluster.mixed_precision', into: 'config', fields: ['bf16', 'fp16', 'use_cpu'], value: (v) => (v === 'auto' ? { bf16: expr('common.mixed_precision() == "bf16"'), fp16: expr('common.mixed_precision() == "fp16"'), use_cpu: expr('common.use_cpu(common.mixed_precision())') } : { bf16: v === 'bf16', fp16: v === 'fp16', use_cpu: v === 'bf16' ? expr('common.use_cpu("bf16")') : undefined }), script: 'and accelerate.yaml `mixed_precision`; `auto`: `common.mixed_precision()` when the stage runs (bf16 on a GPU that supports it, else fp32); bf16 without a CUDA GPU sets `use_cpu` (bf16 autocast on the CPU; Transformers refuses bf16 on a CPU without it)' },
  ],
};

