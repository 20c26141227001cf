// ppo → rlhfc's own PPOTrainer on Accelerate (rlhf_export/ppo.py): TRL 1.x has no PPO trainer.

import { chatTemplate, health, lora, optimizer, rowsOf } from '../rows.ts';
import { expr, pyLit } from '../py.ts';
import type { StageExport } from '../writer.ts';
import type { ParamsOf } from '../../../../core/schema.ts';
import type { schema } from '../../../../runtime/stages/ppo.ts';

/** Rows of ppo's parameters, each through an accessor checked against its schema's types. */
const row = rowsOf<ParamsOf<(typeof schema)['params']>>();

export const ppo: StageExport = {
  classes: { trainer: 'PPOTrainer', config: 'PPOConfig', module: 'rlhf_export.ppo', doc: 'rlhfc\'s own `PPOTrainer` on Accelerate (`rlhf_export/ppo.py`: policy + value head, frozen reference, reward model or judge; TRL 1.x has no PPO trainer)' },
  training: true,
  rows: [
    { ...chatTemplate, into: 'config', fields: ['chat_template'], value: (v) => (v ? { chat_template: true } : {}), script: "true: prompts are one user turn rendered with the tokenizer's chat template and its generation prompt (`common.chat_prompt_ids`), cut to their last max_prompt_length tokens, as rlhfc" },
    // rlhf_export/ppo.py: rlhfc's own PPO trainer (TRL 1.x has none), so every parameter keeps its meaning.
    row((p) => p.steps, { into: 'config', fields: ['steps'], note: 'PPO steps: each samples batch_size prompts and makes ppo_epochs × batch_size / mini_batch_size updates, for any number of processes' }),
    row((p) => p.batch_size, { into: 'config', fields: ['batch_size'], note: 'global: each of P processes samples batch_size / P prompts' }),
    row((p) => p.mini_batch_size, { into: 'config', fields: ['mini_batch_size'], note: 'global: split between the processes' }),
    row((p) => p.ppo_epochs, { into: 'config', fields: ['ppo_epochs'] }),
    row((p) => p.max_prompt_length, { into: 'config', fields: ['max_prompt_length'] }),
    row((p) => p.gamma, { into: 'config', fields: ['gamma'] }),
    row((p) => p.lam, { into: 'config', fields: ['lam'] }),
    row((p) => p.cliprange, { into: 'config', fields: ['cliprange'] }),
    row((p) => p.cliprange_value, { into: 'config', fields: ['cliprange_value'] }),
    row((p) => p.vf_coef, { into: 'config', fields: ['vf_coef'] }),
    row((p) => p.entropy_coef, { into: 'config', fields: ['entropy_coef'], note: 'loss − entropy_coef · masked mean token entropy (rlhf_export/ppo.py token_entropy), as rlhfc' }),
    row((p) => p.whiten_rewards, { into: 'config', fields: ['whiten_rewards'] }),
    row((p) => p.kl.init, { into: 'config', fields: ['kl_init'] }),
    row((p) => p.kl.adaptive, { into: 'config', fields: ['kl_adaptive'] }),
    row((p) => p.kl.target, { into: 'config', fields: ['kl_target'] }),
    row((p) => p.kl.horizon, { into: 'config', fields: ['kl_horizon'] }),
    row((p) => p.kl.penalty, { into: 'config', fields: ['kl_penalty'] }),
    row((p) => p.kl.stop_at, { into: 'config', fields: ['kl_stop_at'] }),
    row((p) => p.score.scaling, { into: 'config', fields: ['score_scaling'] }),
    row((p) => p.score.clip, { into: 'config', fields: ['score_clip'] }),
    row((p) => p.length.overlong_cache, { into: 'config', fields: ['overlong_cache'], note: 'added to the score before scaling, as rlhfc (rlhf_export/ppo.py length_reward)' }),
    row((p) => p.length.overlong_weight, { into: 'config', fields: ['overlong_weight'] }),
    row((p) => p.length.floor, { into: 'config', fields: ['length_floor'] }),
    row((p) => p.length.floor_weight, { into: 'config', fields: ['floor_weight'] }),
    row((p) => p.generation.max_new_tokens, { into: 'config', fields: ['max_new_tokens'] }),
    row((p) => p.generation.min_new_tokens, { into: 'config', fields: ['min_new_tokens'] }),
    row((p) => p.generation.temperature, { into: 'config', fields: ['temperature'] }),
    row((p) => p.generation.top_k, { into: 'config', fields: ['top_k'] }),
    row((p) => p.generation.top_p, { into: 'config', fields: ['top_p'] }),
    ...lora,
    ...optimizer,
    row((p) => p.log_every, { into: 'config', fields: ['logging_steps'] }),
    row((p) => p.checkpoint_every, { into: 'config', fields: ['save_steps'], note: 'N > 0: a resumable checkpoint every N steps; 0 (locally: every 2 minutes): none' }),
    row((p) => p.samples, { into: 'config', fields: ['samples'] }),
    ...health,
  ],
  emit(w) {
    const n = w.n;
    // TRL 1.x has no PPO trainer: the export's own (rlhf_export/ppo.py), with rlhfc's semantics.
    w.argFor('policy', `policy to optimise: ${w.describe('policy')}`);
    w.argFor('prompts', `prompts: ${w.describe('prompts')}`);
    if (w.res['reward']?.kind === 'folder') w.args.push(`parser.add_argument("--reward", required=True, help=${pyLit(`reward model: ${w.describe('reward')}`)})`);
    w.use('rlhf_export', 'judges');
    w.add(...w.model('policy', 'policy', w.res['policy'], 'lm'));
    w.add('# reference: the policy\'s starting weights (with LoRA, the policy with its adapter disabled)');
    w.add(w.lora ? 'ref_policy = None' : w.model('ref_policy', 'policy', w.res['policy'], 'lm', false).join('\n'));
    if (w.lora) {
      w.add(`peft_config = ${w.loraCall('CAUSAL_LM')}`, 'policy = get_peft_model(policy, peft_config)');
      w.use('peft', 'get_peft_model');
    }
    const j = w.res['reward'];
    w.add(j?.kind === 'folder' ? 'reward = judges.reward_model(args.reward)' : j?.kind === 'judge' ? `reward = ${j.code}` : 'reward = None  # not exportable: see the RLHF5002 diagnostic');
    w.add('train, validation = common.load_records(args.prompts)');
    w.add('prompts = [r.get("prompt") or "" for r in train]');
    w.use('os');
    w.add(`config = ${w.instantiate('PPOConfig', 'rlhf_export.ppo', [
      { name: 'output_dir', value: expr('os.path.join(args.out, "trainer")'), comment: 'checkpoints; the result goes to args.out' },
      ...w.mapped('config'),
      { name: 'seed', value: w.plan.seed, comment: 'seed' },
      { name: 'node_id', value: n.id, comment: 'with the seed: the prompt order, as rlhfc' },
      { name: 'mixed_precision', value: w.cluster.mixed_precision === 'auto' ? expr('common.mixed_precision()') : w.cluster.mixed_precision, comment: 'cluster.mixed_precision' },
    ])}`);
    w.use('rlhf_export.ppo', 'PPOTrainer');
    w.add('trainer = PPOTrainer(config, policy, ref_policy, reward, tokenizer, prompts)');
    w.add('trainer.train()');
    w.add(`trainer.save(args.out${w.merge ? ', merge_lora=True' : ''})`);
  },
};
