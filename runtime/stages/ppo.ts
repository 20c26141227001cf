// Stage `ppo`: RLHF with PPO, following TRL's classic PPOTrainer: generate → score → per-token KL
// penalty → GAE → clipped policy and value losses over ppo_epochs of mini-batches.

import { block, bool, float, input, int, str, withDefaults, type StageSchema } from './schema.ts';
import { generation, lora, optimizer, samplingRules } from './common.ts';

export const schema: StageSchema = {
  kind: 'ppo',
  doc: 'RLHF with PPO against a reward model or a judge, with a KL penalty to the reference.',
  params: {
    policy: input('Policy to optimise (gets a value head); its starting weights are the frozen reference.', ['causal_lm']),
    reward: input('What scores responses: a reward model or a judge.', ['reward_model', 'judge']),
    prompts: input('Prompts to generate from.', ['prompts']),
    steps: int('PPO steps (each: one batch generated, scored and optimised).', 20, 1),
    batch_size: int('Prompts per step.', 16, 1),
    mini_batch_size: int('Examples per optimisation mini-batch; must divide batch_size.', 4, 1),
    ppo_epochs: int('Optimisation passes over each batch.', 4, 1),
    max_prompt_length: int('Prompts are truncated (from the left) to this many tokens.', 32, 1),
    gamma: float('Discount factor.', 1.0, 0, 1),
    lam: float('GAE λ.', 0.95, 0, 1),
    cliprange: float('Policy ratio clip ε.', 0.2, 0, 10, { minExclusive: true }),
    cliprange_value: float('Value clip.', 0.2, 0, 1000, { minExclusive: true }),
    vf_coef: float('Value-loss coefficient.', 0.1, 0),
    whiten_rewards: bool('Whiten per-token rewards before GAE.', false),
    kl: block('KL penalty and its controller.', 'always', {
      init: float('Initial β.', 0.2, 0),
      adaptive: bool('Adapt β toward `target` (else β stays fixed).', true),
      target: float('Target KL for the adaptive controller.', 6.0, 0, undefined, { minExclusive: true }),
      horizon: int('Adaptive controller horizon.', 10000, 1),
      penalty: str('Per-token KL estimator.', 'kl', ['kl', 'abs', 'mse']),
      stop_at: float('Early-stop an epoch when the batch\'s approx KL exceeds this (0: off).', 0, 0),
    }),
    score: block('Score post-processing.', 'always', {
      scaling: bool('Divide scores by their running standard deviation.', false),
      clip: float('Clip scores to ±clip after scaling (0: off).', 0, 0),
    }),
    generation: generation({ max_new_tokens: 24, temperature: 1.0 }),
    lora,
    optimizer,
    log_every: int('Write a metrics line every N steps.', 1, 1),
    checkpoint_every: int('Save a resumable checkpoint every N steps (0: off).', 0, 0),
    samples: int('Sample generations logged per step.', 2, 0),
  },
  outputs: { model: 'causal_lm' },
  carries: { model: 'policy' },
  rules: (p, ctx) => {
    const out = samplingRules(p, ctx, 'policy');
    const b = p['batch_size'] as number;
    const mb = p['mini_batch_size'] as number;
    if (b % mb !== 0) out.push({ path: 'mini_batch_size', message: `mini_batch_size ${mb} does not divide batch_size ${b}` });
    const rm = ctx.inputs['reward']?.model;
    const pol = ctx.inputs['policy']?.model;
    if (rm && rm.vocab_size !== undefined && pol?.vocab_size !== undefined && rm.vocab_size !== pol.vocab_size) {
      out.push({ path: 'reward', message: `the reward model's vocabulary (${rm.vocab_size}) differs from the policy's (${pol.vocab_size}); they must share a tokenizer` });
    }
    return out;
  },
};

export const defaults = withDefaults(schema.params, {});
