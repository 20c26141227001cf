// `--smoke`: the same project at a smoke scale — a few records, a few steps, short generations —
// so the whole pipeline runs on a CPU in minutes (the interop tests run every example this way).
// Only sizes change (and a judge breaks ties at random, so that untrained models still yield
// preference pairs); every other parameter, and so every code path, stays as the spec says. The
// project's README and each changed value's comment say it is a smoke run.

import type { Plan, PlanNode } from '../../../core/plan-types.ts';
import type { ResolvedParams } from '../../../core/schema.ts';

/** Records kept per dataset, and the caps applied to stage parameters. */
export const SMOKE = { records: 48, steps: 2, batch: 4, ppoBatch: 4, ppoMiniBatch: 2, newTokens: 8, prompts: 8, samplesPerPrompt: 2 } as const;

const cap = (p: ResolvedParams, key: string, max: number) => {
  const v = p[key];
  if (typeof v === 'number' && (v === 0 || v > max)) p[key] = max;
};

function smokeParams(n: PlanNode): ResolvedParams {
  const p = structuredClone(n.params) as ResolvedParams;
  if (n.category === 'dataset') {
    cap(p, 'limit', SMOKE.records);
    return p;
  }
  if (n.category !== 'stage') return p;
  const gen = p['generation'] as ResolvedParams | undefined;
  if (gen) cap(gen, 'max_new_tokens', SMOKE.newTokens);
  if (gen && typeof gen['min_new_tokens'] === 'number' && (gen['min_new_tokens'] as number) > SMOKE.newTokens) gen['min_new_tokens'] = SMOKE.newTokens;
  switch (n.kind) {
    case 'pretrain':
    case 'sft':
    case 'reward':
    case 'dpo':
    case 'kto':
      p['max_steps'] = SMOKE.steps;
      cap(p, 'batch_size', SMOKE.batch);
      if (typeof p['eval_every'] === 'number' && (p['eval_every'] as number) > 0) p['eval_every'] = SMOKE.steps;
      if (typeof p['log_every'] === 'number') p['log_every'] = 1;
      if (typeof p['checkpoint_every'] === 'number' && (p['checkpoint_every'] as number) > 0) p['checkpoint_every'] = 1;
      break;
    case 'ppo':
      p['steps'] = SMOKE.steps;
      p['batch_size'] = SMOKE.ppoBatch;
      p['mini_batch_size'] = SMOKE.ppoMiniBatch;
      p['log_every'] = 1;
      if ((p['checkpoint_every'] as number) > 0) p['checkpoint_every'] = 1;
      break;
    case 'grpo':
    case 'rloo':
      // groups, mini-batches and iterations stay as written: only the number of generation steps shrinks
      p['steps'] = SMOKE.steps;
      p['log_every'] = 1;
      if ((p['checkpoint_every'] as number) > 0) p['checkpoint_every'] = 1;
      break;
    case 'judge':
      cap(p, 'max_prompts', SMOKE.prompts);
      cap(p, 'samples_per_prompt', SMOKE.samplesPerPrompt);
      // An untrained smoke model's samples often all score the same (afinn() of gibberish is 0):
      // break ties at random so that the stages after the judge get preference pairs to run on.
      p['ties'] = 'random';
      break;
    case 'generate':
    case 'eval':
      cap(p, 'max_prompts', SMOKE.prompts);
      break;
  }
  return p;
}

/** The plan at smoke scale (node hashes get a suffix, so run.sh never mistakes one for the full run). */
export function smokePlan(plan: Plan): Plan {
  return { ...plan, nodes: plan.nodes.map((n) => ({ ...n, params: smokeParams(n), hash: n.category === 'stage' || n.category === 'dataset' ? `${n.hash.slice(0, 10)}smoke0` : n.hash })) };
}
