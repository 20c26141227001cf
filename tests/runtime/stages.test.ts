// The supervised stages train for real, on real data, through the same path as `rlhfc run`.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { compileFile } from '../../compiler/compile.ts';
import { initBackend } from '../../runtime/tensor-backend.ts';
import { runPlan, type RunResult } from '../../runtime/runner.ts';
import { buildReport } from '../../runtime/html-report.ts';
import { ArtifactStore } from '../../runtime/store.ts';
import { type Gpt2Config, loadCheckpoint } from '../../runtime/hf-checkpoint.ts';
import { loadTokenizer } from '../../runtime/tokenizers/index.ts';
import { GPT } from '../../runtime/model/gpt.ts';
import { generate } from '../../runtime/model/decode.ts';
import { splitDataset } from '../../runtime/data/index.ts';
import { loadDataset } from '../../runtime/sources/index.ts';
import { readSafetensors } from '../../runtime/safetensors.ts';
import { AdamW, learningRate } from '../../runtime/optim.ts';

const SPEC = 'tests/fixtures/stages.rlhf';
const store = mkdtempSync(join(tmpdir(), 'rlhfc-stages-'));
const plan = compileFile(SPEC).plan!;

async function run(stage: string): Promise<{ res: RunResult; metrics: Record<string, number>; dir: string }> {
  const res = await runPlan(plan, { specPath: SPEC, stage, storeDir: store, write: () => {}, tty: false });
  const node = plan.nodes.find((n) => n.id === `stage:${stage}`)!;
  const rec = new ArtifactStore(store).record(node.hash)!;
  return { res, metrics: rec.metrics as Record<string, number>, dir: new ArtifactStore(store).nodeDir(node.hash) };
}

beforeAll(async () => {
  await initBackend('auto');
});

describe('pretrain', () => {
  it('loss falls and validation perplexity drops below the unigram baseline', async () => {
    const { metrics, dir } = await run('base');
    expect(metrics['train_loss']).toBeLessThan(metrics['first_loss'] - 0.5);
    expect(metrics['val_ppl']).toBeLessThan(metrics['unigram_ppl'] * 0.85);
    // metrics.jsonl has the eval lines; the model folder loads
    const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => 'val_ppl' in l).length).toBeGreaterThanOrEqual(3);
    expect(existsSync(join(dir, 'model', 'model.safetensors'))).toBe(true);
    expect(existsSync(join(dir, 'model', 'tokenizer.json'))).toBe(true);
  });
});

describe('sft', () => {
  it('makes a model reproduce the trained answers', async () => {
    const { metrics, dir } = await run('memo');
    expect(metrics['train_loss']).toBeLessThan(0.3);
    const ck = await loadCheckpoint(join(dir, 'model'));
    const tok = await loadTokenizer(join(dir, 'model'));
    const c = ck.config as Gpt2Config;
    const model = GPT.fromWeights({ vocabSize: c.vocab_size, context: c.n_positions, width: c.n_embd, layers: c.n_layer, heads: c.n_head, dropout: 0 }, ck.weights);
    const node = plan.nodes.find((n) => n.id === 'dataset:few')!;
    const recs = splitDataset((await loadDataset({ source: 'corpus', args: ['sentiment'], params: node.params, kind: 'pairs' }, '.')) as { prompt: string; response: string }[], { validation: 0, seed: 0 }).train;
    let exact = 0;
    for (const r of recs) {
      const want = tok.encode(r.response ?? '').slice(0, 4);
      const g = await generate(model, [tok.encode(r.prompt ?? '')], { maxNewTokens: 4, temperature: 0, eosId: tok.eosId, padId: tok.padId });
      if (g.tokens[0].join() === want.join()) exact++;
    }
    model.dispose();
    expect(exact).toBeGreaterThanOrEqual(5); // of 6
  });

  it('with LoRA saves only the adapter and leaves the base weights bit-identical', async () => {
    await run('base');
    const baseNode = plan.nodes.find((n) => n.id === 'stage:base')!;
    const baseFile = join(new ArtifactStore(store).nodeDir(baseNode.hash), 'model', 'model.safetensors');
    const before = readFileSync(baseFile);
    const { dir } = await run('adapt');
    expect(existsSync(join(dir, 'model', 'adapter_model.safetensors'))).toBe(true);
    expect(existsSync(join(dir, 'model', 'model.safetensors'))).toBe(false);
    expect(readFileSync(baseFile).equals(before)).toBe(true);
    const ck = await loadCheckpoint(join(dir, 'model'));
    expect(ck.baseDir).toBe(join(new ArtifactStore(store).nodeDir(baseNode.hash), 'model'));
    const names = [...(await readSafetensors(join(dir, 'model', 'adapter_model.safetensors'))).tensors.keys()];
    expect(names.every((n) => /lora_[AB]\.weight$/.test(n))).toBe(true);
    // the trained adapter is not zero
    const bs = [...ck.adapter!.weights].filter(([n]) => n.includes('lora_B'));
    expect(bs.some(([, w]) => w.data.some((x) => x !== 0))).toBe(true);
  });

  it('with lora { merge: true } saves full weights instead', async () => {
    const spec = join(store, 'merge.rlhf');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(spec, readFileSync(SPEC, 'utf8').replace('lora { r: 4  alpha: 8  targets: ["c_attn", "c_fc"] }', 'lora { r: 4  alpha: 8  targets: ["c_attn", "c_fc"]  merge: true }').replaceAll('"judges.ts', '"' + join(process.cwd(), 'tests/fixtures/judges.ts')));
    const p2 = compileFile(spec).plan!;
    await runPlan(p2, { specPath: spec, stage: 'adapt', storeDir: store, write: () => {}, tty: false });
    const node = p2.nodes.find((n) => n.id === 'stage:adapt')!;
    const dir = join(new ArtifactStore(store).nodeDir(node.hash), 'model');
    expect(existsSync(join(dir, 'model.safetensors'))).toBe(true);
    expect(existsSync(join(dir, 'adapter_config.json'))).toBe(false);
  });
});

describe('reward', () => {
  it('reaches clearly-above-chance held-out accuracy on human-labelled sentiment pairs', async () => {
    const { metrics } = await run('rm');
    expect(metrics['eval_accuracy']).toBeGreaterThan(0.65);
    expect(metrics['train_loss']).toBeLessThan(metrics['first_loss']);
  });
});

describe('alignment', () => {
  it('PPO trains on the length-shaped score: a heavy over-length penalty shortens the answers the same PPO leaves long', async () => {
    const read = async (stage: string) => readFileSync(join((await run(stage)).dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const plain = await read('rl');
    const shaped = await read('shaped');
    const len = (ls: { response_len: number }[]) => (ls[ls.length - 2].response_len + ls[ls.length - 1].response_len) / 2;
    expect(shaped[0].length_reward).toBeLessThan(0);
    expect(len(shaped), `shaped ${len(shaped)} vs plain ${len(plain)}`).toBeLessThan(len(plain) - 1);
    expect(len(shaped)).toBeLessThan((shaped[0].response_len + shaped[1].response_len) / 2);
  });

  it('PPO against a rule reward raises the mean reward while KL stays finite', async () => {
    const { metrics, dir } = await run('rl');
    const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(8);
    const first = (lines[0].score + lines[1].score) / 2;
    const last = (lines[6].score + lines[7].score) / 2;
    expect(last).toBeGreaterThan(first + 0.1);
    for (const l of lines) {
      expect(Number.isFinite(l.kl)).toBe(true);
      for (const k of ['pg_loss', 'vf_loss', 'clipfrac', 'approx_kl', 'entropy', 'beta', 'non_score_reward']) expect(Number.isFinite(l[k])).toBe(true);
      expect(typeof l.sample_0).toBe('string');
      // the rollouts' degeneration statistics, as the eval stage measures them
      expect(l.mean_words).toBeGreaterThanOrEqual(0);
      expect(l.mean_words).toBeLessThanOrEqual(8); // at most max_new_tokens words
      for (const k of ['empty_rate', 'distinct_1', 'distinct_2', 'repetition_2']) expect(l[k] >= 0 && l[k] <= 1, `${k} = ${l[k]}`).toBe(true);
    }
    expect(metrics['score']).toBe(lines[7].score);
  });

  it('PPO follows optimizer.schedule, warmup_steps and min_lr_ratio like every other stage', async () => {
    await run('memo'); // the policy (cached when the sft test ran)
    const apply = vi.spyOn(AdamW.prototype, 'apply');
    try {
      const { dir } = await run('sched');
      // Every update of PPO step i (here 2 mini-batches) uses the schedule's rate at step i, over 5 steps.
      const want = [0, 1, 2, 3, 4].map((i) => learningRate(i, { kind: 'linear', lr: 3e-3, warmupSteps: 2, minLrRatio: 0.1, totalSteps: 5 }));
      expect(want[0]).toBe(0); // warmup from 0, as Transformers' schedulers
      expect(want[1]).toBeCloseTo(1.5e-3, 12);
      expect(want[4]).toBeCloseTo(3e-4 + 2.7e-3 / 3, 12); // decay toward the floor
      expect(apply.mock.calls.map((c) => c[1])).toEqual(want.flatMap((lr) => [lr, lr]));
      const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(lines.map((l) => l.lr)).toEqual(want);
    } finally {
      apply.mockRestore();
    }
  });

  it('DPO raises held-out preference accuracy above chance', async () => {
    const { metrics } = await run('pref');
    expect(metrics['reward_accuracy']).toBeGreaterThan(0.6);
    expect(metrics['reward_margin']).toBeGreaterThan(0);
    expect(metrics['rewards/chosen']).toBeGreaterThan(metrics['rewards/rejected']);
  });
});

describe('grpo', () => {
  it('raises a rule reward with group-relative advantages and logs groups, advantages, KL and the answers', async () => {
    const { metrics, dir } = await run('gr');
    const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(10);
    const first = (lines[0].reward + lines[1].reward) / 2;
    const last = (lines[8].reward + lines[9].reward) / 2;
    expect(last, lines.map((l) => l.reward.toFixed(3)).join(' ')).toBeGreaterThan(first + 0.3);
    for (const l of lines) {
      for (const k of ['reward_std', 'rewards/0', 'frac_reward_zero_std', 'advantage_mean', 'advantage_std', 'loss', 'kl', 'clip_ratio', 'completion_len', 'distinct_2', 'lr'])
        expect(Number.isFinite(l[k]), `${k} = ${l[k]}`).toBe(true);
      expect(Math.abs(l.advantage_mean)).toBeLessThan(1e-6); // advantages are centred in every group
      expect(l.kl).toBeGreaterThanOrEqual(0); // k3 is never negative
      expect(l.sample_0).toMatch(/\(reward -?\d\.\d{3}, advantage -?\d+\.\d{2}\)$/);
    }
    expect(metrics['reward']).toBe(lines[9].reward);
    expect(existsSync(join(dir, 'model', 'model.safetensors'))).toBe(true);
  });

  it('resumes bit-identically after an interruption', async () => {
    const other = mkdtempSync(join(tmpdir(), 'rlhfc-grpo-resume-'));
    const ac = new AbortController();
    const write = (l: string) => {
      if (/^gr: step=4 /.test(l)) ac.abort();
    };
    await expect(runPlan(plan, { specPath: SPEC, stage: 'gr', storeDir: other, write, tty: false, signal: ac.signal })).rejects.toThrow(/interrupted/i);
    await runPlan(plan, { specPath: SPEC, stage: 'gr', storeDir: other, write: () => {}, tty: false });
    const node = plan.nodes.find((n) => n.id === 'stage:gr')!;
    const a = readFileSync(join(new ArtifactStore(store).nodeDir(node.hash), 'model', 'model.safetensors'));
    const b = readFileSync(join(new ArtifactStore(other).nodeDir(node.hash), 'model', 'model.safetensors'));
    expect(b.equals(a)).toBe(true);
  });
});

describe('rloo', () => {
  it('raises a rule reward with leave-one-out baselines; the KL to the start is logged', async () => {
    const { dir } = await run('loo');
    const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(10);
    const first = (lines[0].reward + lines[1].reward) / 2;
    const last = (lines[8].reward + lines[9].reward) / 2;
    expect(last, lines.map((l) => l.reward.toFixed(3)).join(' ')).toBeGreaterThan(first + 0.3);
    for (const l of lines) {
      for (const k of ['reward_std', 'advantage_mean', 'loss', 'kl', 'clip_ratio', 'distinct_2']) expect(Number.isFinite(l[k]), `${k} = ${l[k]}`).toBe(true);
      expect(Math.abs(l.advantage_mean)).toBeLessThan(1e-5); // leave-one-out advantages sum to 0 in every group
    }
  });
});

describe('eval', () => {
  it('reports score, KL and degeneration statistics per model, and flags drift from the reference', async () => {
    const { metrics, dir } = await run('cmp');
    const report = JSON.parse(readFileSync(join(dir, 'report', 'report.json'), 'utf8'));
    expect(report.results.map((r: { model: string }) => r.model)).toEqual(['memo.model', 'rl.model', 'pref.model']);
    for (const r of report.results) {
      const d = r.degeneration;
      expect(d.responses).toBe(16);
      for (const k of ['empty_rate', 'distinct_1', 'distinct_2', 'repetition_2']) {
        expect(d[k]).toBeGreaterThanOrEqual(0);
        expect(d[k]).toBeLessThanOrEqual(1);
      }
      expect(d.words.p10).toBeLessThanOrEqual(d.words.p90);
      expect(d.tokens.mean).toBeCloseTo(r.mean_tokens, 10);
      expect(metrics[`distinct_2/${r.model}`]).toBe(d.distinct_2);
      // the judge's score against answer length, per model (null only when either has no spread)
      if (r.length_corr === null) expect(metrics[`length_corr/${r.model}`]).toBeUndefined();
      else {
        expect(Math.abs(r.length_corr)).toBeLessThanOrEqual(1);
        expect(metrics[`length_corr/${r.model}`]).toBe(r.length_corr);
      }
    }
    // the reference is not judged against itself; the others are, by the documented thresholds
    expect(report.results[0].flags).toBeUndefined();
    const ref = report.results[0].degeneration;
    for (const r of report.results.slice(1)) {
      const g = r.length_gain;
      expect(g.gain).toBeCloseTo(r.mean_score - report.results[0].mean_score, 10);
      const lengthDriven = g.gain > 0 && Math.abs(g.t) >= 2 && g.predicted >= 0.5 * g.gain;
      expect(r.flags.some((f: string) => f.startsWith('length-driven gain'))).toBe(lengthDriven);
      const expected = ref.distinct_2 - r.degeneration.distinct_2 > 0.1 || Math.abs(r.degeneration.words.mean / ref.words.mean - 1) > 0.3 || lengthDriven;
      expect(r.flags.length > 0, `${r.model}: ${r.flags.join('; ')}`).toBe(expected);
    }
    const flagged = report.results.filter((r: { flags?: string[] }) => r.flags?.length).map((r: { model: string }) => r.model);
    const headline = String((metrics as Record<string, unknown>)['headline']);
    if (flagged.length) expect(headline).toContain(`possible reward hacking: ${flagged.join(', ')}`);
    else expect(headline).not.toContain('reward hacking');
    const html = buildReport(plan, store);
    expect(html).toContain('<table class="eval">');
    expect(html).toContain('distinct-2');
  });
});

describe('kto', () => {
  it('raises the held-out reward margin of desirable over undesirable completions; held-out loss falls below its starting 0.5', async () => {
    const { metrics, dir } = await run('thumbs_kto');
    const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(6);
    // At the start the policy is its reference: h = 0 and z₀ = 0, so every example's loss is exactly 0.5
    // and the margin exactly 0. (The training loss itself hovers near 0.5: z₀ follows h upwards.)
    expect(metrics['eval_loss']).toBeLessThan(0.495);
    expect(metrics['reward_margin']).toBeGreaterThan(0.1);
    expect(metrics['rewards/chosen']).toBeGreaterThan(metrics['rewards/rejected']);
    expect(metrics['kl']).toBeGreaterThanOrEqual(0); // the reference point is clamped at 0
    const evals = lines.filter((l) => 'reward_margin' in l);
    expect(evals).toHaveLength(2);
  });

  it('resumes bit-identically after an interruption', async () => {
    const other = mkdtempSync(join(tmpdir(), 'rlhfc-kto-resume-'));
    const ac = new AbortController();
    const write = (l: string) => {
      if (/^thumbs_kto: step=20 /.test(l)) ac.abort();
    };
    await expect(runPlan(plan, { specPath: SPEC, stage: 'thumbs_kto', storeDir: other, write, tty: false, signal: ac.signal })).rejects.toThrow(/interrupted/i);
    await runPlan(plan, { specPath: SPEC, stage: 'thumbs_kto', storeDir: other, write: () => {}, tty: false });
    const node = plan.nodes.find((n) => n.id === 'stage:thumbs_kto')!;
    const a = readFileSync(join(new ArtifactStore(store).nodeDir(node.hash), 'model', 'model.safetensors'));
    const b = readFileSync(join(new ArtifactStore(other).nodeDir(node.hash), 'model', 'model.safetensors'));
    expect(b.equals(a)).toBe(true);
  });
});

describe('memory', () => {
  it('stages leave no tensors behind', async () => {
    const before = tf.memory().numTensors;
    // re-running finished stages is a cache hit; force one small stage to really run
    await runPlan(plan, { specPath: SPEC, stage: 'rm', force: ['rm'], storeDir: store, write: () => {}, tty: false });
    expect(tf.memory().numTensors).toBe(before);
  });
});
