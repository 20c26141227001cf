// ppo → rlhfc's own PPOTrainer on Accelerate (rlhf_export/ppo.py): TRL 1.x has no PPO trainer.

import { lora, optimizer } from '../rows.ts';
import { expr, pyLit } from '../py.ts';
import type { StageExport } from '../writer.ts';

export const ppo: StageExport = {
  classes: { trainer: 'PPOTrainer', config: 'PPOConfig', module: 'rlhf_export.ppo', doc: 'rlhfc\'s own `PPOTrainer` on Accelerate (`rlhf_export/ppo.py`: policy + value head, frozen reference, reward model or judge; TRL 1.x has no PPO trainer)' },
  training: true,
  rows: [
    // rlhf_export/ppo.py: rlhfc's own PPO trainer (TRL 1.x has none), so every parameter keeps its meaning.
    { param: 'steps', into: 'config', fields: ['steps'], note: 'PPO steps: each samples batch_size prompts and makes ppo_epochs × batch_size / mini_batch_size updates, for any number of processes' },
    { param: 'batch_size', into: 'config', fields: ['batch_size'], note: 'global: each of P processes samples batch_size / P prompts' },
    { param: 'mini_batch_size', into: 'config', fields: ['mini_batch_size'], note: 'global: split between the processes' },
    { param: 'ppo_epochs', into: 'config', fields: ['ppo_epochs'] },
    { param: 'max_prompt_length', into: 'config', fields: ['max_prompt_length'] },
    { param: 'gamma', into: 'config', fields: ['gamma'] },
    { param: 'lam', into: 'config', fields: ['lam'] },
    { param: 'cliprange', into: 'config', fields: ['cliprange'] },
    { param: 'cliprange_value', into: 'config', fields: ['cliprange_value'] },
    { param: 'vf_coef', into: 'config', fields: ['vf_coef'] },
    { param: 'whiten_rewards', into: 'config', fields: ['whiten_rewards'] },
    { param: 'kl.init', into: 'config', fields: ['kl_init'] },
    { param: 'kl.adaptive', into: 'config', fields: ['kl_adaptive'] },
    { param: 'kl.target', into: 'config', fields: ['kl_target'] },
    { param: 'kl.horizon', into: 'config', fields: ['kl_horizon'] },
    { param: 'kl.penalty', into: 'config', fields: ['kl_penalty'] },
    { param: 'kl.stop_at', into: 'config', fields: ['kl_stop_at'] },
    { param: 'score.scaling', into: 'config', fields: ['score_scaling'] },
    { param: 'score.clip', into: 'config', fields: ['score_clip'] },
    { param: 'generation.max_new_tokens', into: 'config', fields: ['max_new_tokens'] },
    { param: 'generation.min_new_tokens', into: 'config', fields: ['min_new_tokens'] },
    { param: 'generation.temperature', into: 'config', fields: ['temperature'] },
    { param: 'generation.top_k', into: 'config', fields: ['top_k'] },
    { param: 'generation.top_p', into: 'config', fields: ['top_p'] },
    ...lora,
    ...optimizer,
    { param: 'log_every', into: 'config', fields: ['logging_steps'] },
    { param: 'checkpoint_every', into: 'config', fields: ['save_steps'], note: 'N > 0: a resumable checkpoint every N steps; 0 (locally: every 2 minutes): none' },
    { param: 'samples', into: 'config', fields: ['samples'] },
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
