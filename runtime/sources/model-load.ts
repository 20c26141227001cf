// The `load("dir")` model constructor: a model from a local folder (GPT-2, Llama, Qwen2, Qwen3, Mistral). The compiler
// reads the folder's config.json for the model facts (`modelFolder`).

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError, diag } from '../../core/diagnostics.ts';
import { path } from './dataset-params.ts';
import type { ModelSource } from './types.ts';

export const load: ModelSource = {
  name: 'load',
  doc: 'A model from a local folder: GPT-2, Llama, Qwen2, Qwen3 or Mistral (config.json + model.safetensors or sharded safetensors + tokenizer files).',
  args: [{ name: 'path', spec: path('Folder, relative to the spec file.') }],
  params: {},
  produces: 'causal_lm',
  modelFolder: { arg: 'path' },
  open(p, env) {
    const dir = resolve(env.specDir, String(p['path']));
    if (!existsSync(join(dir, 'config.json'))) throw new UserError([diag('RLHF9001', `model ${env.name}: no config.json in ${dir}`)]);
    return { type: 'causal_lm', dir };
  },
};
