// The Python packages an exported project pins (requirements.txt). One mutually consistent set:
// TRL 0.19.1 is the last line whose `trl.PPOTrainer` is the policy / ref / reward / value-model
// trainer at the top level of the package (later releases move PPO to `trl.experimental`), and it
// was built and tested against Transformers 4.53, PEFT 0.16, Accelerate 1.8 and Datasets 3.6.
// The field lists in fields.ts are taken from exactly these versions.

export const PINNED = {
  torch: '2.7.1',
  transformers: '4.53.2',
  tokenizers: '0.21.2',
  trl: '0.19.1',
  peft: '0.16.0',
  accelerate: '1.8.1',
  datasets: '3.6.0',
  deepspeed: '0.17.2',
  safetensors: '0.5.3',
  vaderSentiment: '3.3.2',
  afinn: '0.1',
} as const;

export type PinnedPackage = keyof typeof PINNED;
