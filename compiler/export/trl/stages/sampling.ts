// What the script-only sampling stages (judge, generate, eval) share: the start of their scripts (arguments, seed, generation settings, prompts, the judge).

import { pyLit } from '../py.ts';
import type { StageWriter } from '../writer.ts';

/** Arguments, seed, generation config and prompts; returns the line that builds `judge`. */
export function samplingPreamble(w: StageWriter): { judgeLine: () => string; modelParams: string[] } {
  const n = w.n;
  const p = w.p;
  const modelParams = n.kind === 'eval' ? Object.keys(n.inputs).filter((k) => k.startsWith('models[')) : ['model'];
  if (n.kind === 'eval') w.args.push(`parser.add_argument("--models", nargs="+", required=True, help=${pyLit(`models to evaluate: ${modelParams.map((m) => w.describe(m)).join(', ')}`)})`);
  else w.argFor('model', `model that writes the responses: ${w.describe('model')}`);
  if (n.inputs['reference']) w.argFor('reference', `reference for KL: ${w.describe('reference')}`);
  w.argFor('prompts', `prompts: ${w.describe('prompts')}`);
  if (n.inputs['judge']) {
    const j = w.res['judge'];
    if (j.kind === 'folder') w.args.push(`parser.add_argument("--judge", required=True, help=${pyLit(`reward model: ${w.describe('judge')}`)})`);
    w.use('rlhf_export', 'judges');
  }
  w.use('transformers', 'set_seed');
  w.add(`SEED = ${pyLit(w.plan.seed)}`);
  w.add(`MAX_PROMPT_LENGTH = ${pyLit(p['max_prompt_length'])}  # prompts are truncated from the left`);
  w.add(`generation = ${w.generationCall()}`);
  w.add('train, validation = common.load_records(args.prompts)');
  if (n.kind === 'eval') w.add('prompts = [r["prompt"] for r in (validation or train)]  # held-out prompts when there are any');
  else w.add('prompts = [r["prompt"] for r in train]');
  if ((p['max_prompts'] as number) > 0) w.add(`prompts = prompts[: ${pyLit(p['max_prompts'])}]  # max_prompts`);
  const judgeLine = () => {
    const j = w.res['judge'];
    if (j?.kind === 'folder') return 'judge = judges.reward_model(args.judge)';
    if (j?.kind === 'judge') return `judge = ${j.code}`;
    return 'judge = None  # not exportable: see the RLHF5002 diagnostic';
  };
  return { judgeLine, modelParams };
}
