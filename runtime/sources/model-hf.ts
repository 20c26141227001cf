// The `hf("id")` model constructor: a Hugging Face model. The TRL export loads any id with
// `from_pretrained`; the local runtime has no Hub access and takes a local folder (GPT-2, Llama, Qwen2, Qwen3, Mistral).

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError, diag } from '../../core/diagnostics.ts';
import { path } from './dataset-params.ts';
import type { ModelSource } from './types.ts';

export const hf: ModelSource = {
  name: 'hf',
  doc: 'A Hugging Face model: a Hub id such as "gpt2" or a local folder. The TRL export loads it with `from_pretrained`; the local runtime accepts a local GPT-2, Llama, Qwen2, Qwen3 or Mistral folder.',
  args: [{ name: 'id', spec: path('Hub model id, or a folder relative to the spec file.') }],
  params: {},
  produces: 'causal_lm',
  modelFolder: { arg: 'id', hubId: true },
  open(p, env) {
    const id = String(p['id']);
    const dir = resolve(env.specDir, id);
    if (existsSync(join(dir, 'config.json'))) return { type: 'causal_lm', dir };
    throw new UserError([
      diag('RLHF9004', `model ${env.name}: hf("${id}") is not a local model folder (no config.json in ${dir}); the local runtime cannot download Hugging Face models`, undefined, {
        notes: [`download it into a folder and write load("that/folder"), or run this spec on GPUs with: rlhfc compile ${env.spec} --target trl --out DIR`],
      }),
    ]);
  },
};
