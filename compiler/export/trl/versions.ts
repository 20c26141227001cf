// The Python packages an exported project pins (requirements.txt): the current stack, which CI
// installs into .venv from the repository's requirements.txt and runs the interop tests with
// (tests/interop/). TRL 1.x has no PPO trainer, so a `ppo` stage runs the export's own
// (py/rlhf_export/ppo.py). fields.json is generated from exactly these versions
// (scripts/trl_fields.py); tests/interop/fields.test.ts checks both against the virtualenv.

export const PINNED = {
  torch: '2.13.0',
  transformers: '5.18.0',
  tokenizers: '0.23.2',
  trl: '1.13.0',
  peft: '0.21.0',
  accelerate: '1.15.0',
  datasets: '5.0.1',
  safetensors: '0.8.0',
} as const;

export type PinnedPackage = keyof typeof PINNED;
