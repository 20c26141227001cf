// rlhfc's DPO stage and TRL's DPOTrainer in lockstep (issue 26's DPO gap; docs/trl-export.md, "Parity with
// rlhfc"). Writes a spec (OUT/spec/lockstep.rlhf) with the parity spec's `pref` stage — beta 0.1, sigmoid,
// max_seq_length 64, max_prompt_length 16, batch 16, lr 5e-4, on the `sentiment` preference pairs — logging
// and evaluating every step, runs it with `rlhfc run` (OUT/store: rlhfc's own dpo.ts path) and compiles it
// with `rlhfc compile --target trl --deterministic` (OUT/export, its data prepared by its own
// prepare_data.py), and writes the batches rlhfc's stage drew, in order (OUT/order.json: training-pair
// indices, rlhfc's `cycle` with the stage's seed and node id). scripts/dpo_lockstep.py then runs the
// exported stage script itself (TRL's DPOTrainer with the DPOConfig the export writes) from the same start
// weights, on those batches, and compares both engines step by step.
//
//   npx tsx scripts/dpo-lockstep.ts OUT [--steps N] [--model DIR] [--limit N] [--validation F] [--eval-every N]
//   .venv/bin/python scripts/dpo_lockstep.py OUT
//
// --model: the policy to start from (an HF folder with its tokenizer, e.g. the parity run's `chat` model in
// a store); without it the spec builds one: a BPE of 512 on the sentiment texts and a 2-layer width-64
// GPT-2 pretrained 30 steps. --steps: DPO steps (default: one epoch, as the parity spec). --limit,
// --validation: the preference records used and the held-out fraction (default: all 1,500, 0.1).
// --eval-every: held-out evaluation every N steps (default 1).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { compileFile } from '../compiler/compile.ts';
import type { PlanNode } from '../core/plan-types.ts';
import { cycle, plannedSteps } from '../runtime/train/lm.ts';
import type { LoopParams } from '../runtime/train/params.ts';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

export interface LockstepOptions {
  /** DPO steps (0: one epoch). */
  steps?: number;
  /** Start from this model folder instead of a briefly pretrained tiny GPT-2. */
  model?: string;
  /** Preference records used (0: all) and the held-out fraction. */
  limit?: number;
  validation?: number;
  /** Evaluate on the held-out pairs every this many steps (default 1). */
  evalEvery?: number;
  /** rlhfc's tensor backend (default: auto, as `rlhfc run`). */
  backend?: string;
}

/** What the Python side reads (OUT/lockstep.json). */
export interface LockstepRun {
  /** rlhfc's DPO node folder (metrics.jsonl, model/). */
  rlhfcNode: string;
  /** The policy both engines start from (rlhfc's `base` result, or --model). */
  startModel: string;
  /** The export's project, its stage script and data folder. */
  export: string;
  script: string;
  data: string;
  /** Training-pair indices of each step's batch, as rlhfc's stage drew them. */
  order: number[][];
  trainPairs: number;
}

function spec(o: LockstepOptions): string {
  const start = o.model
    ? `model start = load(${JSON.stringify(resolve(o.model))})`
    : `dataset texts = corpus("sentiment") { kind: text }
tokenizer bpe = bpe(texts) { vocab_size: 512 }
model tiny = gpt { layers: 2  heads: 4  width: 64  context: 64 }
stage base: pretrain { model: tiny  tokenizer: bpe  data: texts  block_size: 64  max_steps: 30  batch_size: 16  optimizer { lr: 3e-3 } }`;
  const steps = o.steps ? `max_steps: ${o.steps}` : 'epochs: 1';
  return `# scripts/dpo-lockstep.ts: the parity spec's DPO stage, logged and evaluated every step
seed = 42
dataset prefs = corpus("sentiment") { kind: preferences  limit: ${o.limit ?? 0}  split { validation: ${o.validation ?? 0.1} } }
${start}
stage pref: dpo {
  model: ${o.model ? 'start' : 'base.model'}  data: prefs  beta: 0.1  loss: sigmoid
  max_seq_length: 64  max_prompt_length: 16  ${steps}  batch_size: 16  log_every: 1  eval_every: ${o.evalEvery ?? 1}
  optimizer { lr: 5e-4 }
}
`;
}

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): void {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env, maxBuffer: 1 << 28, timeout: 1_200_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${`${r.stdout}\n${r.stderr}`.slice(-4000)}`);
}

/** rlhfc's side and the export, ready for scripts/dpo_lockstep.py (which reads OUT/lockstep.json). */
export function prepareLockstep(outDir: string, o: LockstepOptions = {}, python = join(ROOT, '.venv/bin/python')): LockstepRun {
  const out = resolve(outDir);
  mkdirSync(join(out, 'spec'), { recursive: true });
  const file = join(out, 'spec', 'lockstep.rlhf');
  writeFileSync(file, spec(o));
  const rlhfc = join(ROOT, 'bin/rlhfc.mjs');
  const store = join(out, 'store');
  sh(process.execPath, [rlhfc, 'run', file, '--store', store, '--backend', o.backend ?? 'auto'], ROOT);
  const exp = join(out, 'export');
  sh(process.execPath, [rlhfc, 'compile', file, '--target', 'trl', '--out', exp, '--deterministic', '--mixed-precision', 'no'], ROOT);
  sh(python, ['prepare_data.py'], exp, { ...process.env, HF_DATASETS_OFFLINE: '1', PYTHONDONTWRITEBYTECODE: '1' });

  const plan = compileFile(file).plan!;
  const node = (name: string) => plan.nodes.find((n) => n.name === name) as PlanNode;
  const pref = node('pref');
  const trainPairs = readFileSync(join(exp, 'data', 'prefs', 'train.jsonl'), 'utf8').trim().split('\n').length;
  // the batches dpo.ts draws: cycle(trainPairs, batch_size, ctx.seed, ctx.node.id) for plannedSteps(params, n)
  const loopParams = pref.params as unknown as LoopParams;
  const next = cycle([...Array(trainPairs).keys()], loopParams.batch_size, plan.seed, pref.id);
  const order = Array.from({ length: plannedSteps(loopParams, trainPairs) }, () => next());
  const run: LockstepRun = {
    rlhfcNode: join(store, 'nodes', pref.hash),
    startModel: o.model ? resolve(o.model) : join(store, 'nodes', node('base').hash, 'model'),
    export: exp,
    script: join(exp, 'stages', 'pref.py'),
    data: join(exp, 'data', 'prefs'),
    order,
    trainPairs,
  };
  writeFileSync(join(out, 'lockstep.json'), JSON.stringify(run));
  return run;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { steps: { type: 'string' }, model: { type: 'string' }, limit: { type: 'string' }, validation: { type: 'string' }, 'eval-every': { type: 'string' }, backend: { type: 'string' } },
  });
  if (!positionals[0]) throw new Error('usage: npx tsx scripts/dpo-lockstep.ts OUT [--steps N] [--model DIR] [--limit N] [--validation F] [--eval-every N] [--backend NAME]');
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const run = prepareLockstep(positionals[0], { steps: num(values.steps), model: values.model, limit: num(values.limit), validation: num(values.validation), evalEvery: num(values['eval-every']), backend: values.backend });
  console.log(`rlhfc: ${run.order.length} steps on ${run.trainPairs} pairs (${run.rlhfcNode}); now: .venv/bin/python scripts/dpo_lockstep.py ${resolve(positionals[0])}`);
}
