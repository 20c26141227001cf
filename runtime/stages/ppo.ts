// Stage `ppo`: RLHF with PPO, following TRL's classic PPOTrainer: generate → score → per-token KL
// penalty → GAE → clipped policy and value losses over ppo_epochs of mini-batches.

import { input, int, stageSchema } from '../../core/schema.ts';
import { chatTemplate, maxPromptLength, samplingRules } from './common.ts';
import { generation, lora, optimizer, rlStepLogging } from '../train/params.ts';
import { lengthShaping } from '../rl/length.ts';
import { ppoConfig } from '../train/ppo-config.ts';
import type { ContextOf, StageOutcome } from '../stage-context.ts';

export const schema = stageSchema({
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
    max_prompt_length: maxPromptLength(32, 'policy'),
    chat_template: chatTemplate,
    ...ppoConfig,
    generation: generation({ max_new_tokens: 24, temperature: 1.0 }),
    length: lengthShaping,
    lora,
    optimizer,
    ...rlStepLogging,
  },
  outputs: { model: 'causal_lm' },
  carries: { model: 'policy' },
  rules: (p, ctx) => {
    const out = samplingRules(p, ctx, 'policy');
    const b = p.batch_size;
    const mb = p.mini_batch_size;
    if (b % mb !== 0) out.push({ path: 'mini_batch_size', message: `mini_batch_size ${mb} does not divide batch_size ${b}` });
    const rm = ctx.inputs['reward']?.model;
    const pol = ctx.inputs['policy']?.model;
    if (rm && rm.vocab_size !== undefined && pol?.vocab_size !== undefined && rm.vocab_size !== pol.vocab_size) {
      out.push({ path: 'reward', message: `the reward model's vocabulary (${rm.vocab_size}) differs from the policy's (${pol.vocab_size}); they must share a tokenizer` });
    }
    return out;
  },
});

type Params = typeof schema.params;

// ---- run ----------------------------------------------------------------------------------
// The one on-policy loop with PPO's pieces (runtime/train/ppo-trainer.ts): the value head, the
// KL-penalised per-token rewards and GAE, the clipped losses, the KL controller, score scaling.

export async function run(ctx: ContextOf<Params>): Promise<StageOutcome> {
  const { runPpo } = await import('../train/ppo-trainer.ts');
  return runPpo(ctx, ctx.params);
}
