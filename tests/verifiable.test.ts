// examples/verifiable.rlhf: its data generator (scripts/make-addition.ts), its verifier
// (examples/verify.ts), the held-out split, and the eval stage reading a 0/1 judge as accuracy.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { addition } from '../examples/verify.ts';
import { HELD_OUT, SEED, TRAIN, jsonl, makeAddition, type Problem } from '../scripts/make-addition.ts';
import { compileFile } from '../compiler/compile.ts';
import { initBackend } from '../runtime/tensor-backend.ts';
import { runPlan } from '../runtime/runner.ts';
import { ArtifactStore } from '../runtime/store.ts';

const read = (f: string): Problem[] => readFileSync(`examples/data/${f}`, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

describe('the addition verifier', () => {
  it('scores 1 exactly when the reply starts with the sum, read up to its first non-digit', () => {
    const cases: [string, string, number][] = [
      ['47+38=', '85', 1],
      ['47+38=', '85\n12', 1],
      ['47+38=', '85 apples', 1],
      ['47+38=', '85+1', 1],
      ['10+10=', '20', 1],
      ['99+99=', '198', 1],
      ['47+38=', '', 0],
      ['47+38=', ' 85', 0],
      ['47+38=', '=85', 0],
      ['47+38=', '850', 0],
      ['47+38=', '085', 0],
      ['47+38=', '8', 0],
      ['47+38=', '84', 0],
      ['47+38=', '-85', 0],
      ['what is 47+38?', '85', 0], // no "a+b=" in the prompt
      ['12+3=15\n47+38=', '85', 1], // the last problem of the prompt counts
      ['12+3=15\n47+38=', '15', 0],
    ];
    for (const [prompt, response, want] of cases) expect(addition(prompt, response), `${JSON.stringify(prompt)} → ${JSON.stringify(response)}`).toBe(want);
  });
});

describe('the addition data', () => {
  const train = read('addition-train.jsonl');
  const test = read('addition-test.jsonl');

  it('is what the seeded generator writes, byte for byte, and the generator is deterministic', () => {
    const a = makeAddition();
    expect(makeAddition()).toEqual(a);
    expect(jsonl(a.train)).toBe(readFileSync('examples/data/addition-train.jsonl', 'utf8'));
    expect(jsonl(a.test)).toBe(readFileSync('examples/data/addition-test.jsonl', 'utf8'));
    const other = makeAddition(`${SEED}-other`);
    expect(other.test.map((p) => p.prompt)).not.toEqual(a.test.map((p) => p.prompt)); // the seed matters
  });

  it('has correct answers the verifier accepts, two-digit operands, and no duplicate problem', () => {
    expect(train).toHaveLength(TRAIN);
    expect(test).toHaveLength(HELD_OUT);
    for (const r of [...train, ...test]) {
      const m = /^(\d\d)\+(\d\d)=$/.exec(r.prompt)!;
      expect(m, r.prompt).not.toBeNull();
      expect(Number(m[1])).toBeGreaterThanOrEqual(10);
      expect(Number(m[2])).toBeGreaterThanOrEqual(10);
      expect(r.response).toBe(String(Number(m[1]) + Number(m[2])));
      expect(r.text).toBe(r.prompt + r.response);
      expect(addition(r.prompt, r.response)).toBe(1);
    }
    expect(new Set([...train, ...test].map((r) => r.prompt)).size).toBe(TRAIN + HELD_OUT);
  });

  it('holds out problems that are not trained on in either order', () => {
    const unordered = (p: string) => p.slice(0, -1).split('+').map(Number).sort((x, y) => x - y).join('+');
    const seen = new Set(train.map((r) => unordered(r.prompt)));
    const leaked = test.filter((r) => seen.has(unordered(r.prompt)));
    expect(leaked).toEqual([]);
  });

  it('is used as documented by the example: trained on the training file, evaluated on the held-out one with the verifier', () => {
    const plan = compileFile('examples/verifiable.rlhf').plan!;
    const file = (id: string) => String(plan.nodes.find((n) => n.id === id)!.params['path']);
    const stages = plan.nodes.filter((n) => n.category === 'stage');
    for (const s of stages.filter((n) => n.kind === 'grpo' || n.kind === 'rloo' || n.kind === 'sft')) {
      const data = s.inputs['prompts'] ?? s.inputs['data'];
      expect(file(data.node), s.name).toBe('data/addition-train.jsonl');
    }
    const evals = stages.filter((n) => n.kind === 'eval');
    expect(evals.length).toBeGreaterThan(0);
    for (const s of evals) {
      expect(file(s.inputs['prompts'].node), s.name).toBe('data/addition-test.jsonl');
      expect(plan.nodes.find((n) => n.id === s.inputs['judge'].node)!.params['ref']).toBe('verify.ts#addition');
    }
    for (const s of stages.filter((n) => n.kind === 'grpo' || n.kind === 'rloo')) expect(plan.nodes.find((n) => n.id === s.inputs['rewards[0]'].node)!.params['ref']).toBe('verify.ts#addition');
  });
});

describe('eval with a 0/1 judge', () => {
  const SPEC = 'tests/fixtures/accuracy.rlhf';
  const plan = compileFile(SPEC).plan!;
  const store = mkdtempSync(join(tmpdir(), 'rlhfc-accuracy-'));
  beforeAll(async () => {
    await initBackend('auto');
    await runPlan(plan, { specPath: SPEC, storeDir: store, write: () => {}, tty: false });
  });
  const result = (stage: string) => {
    const node = plan.nodes.find((n) => n.id === `stage:${stage}`)!;
    const s = new ArtifactStore(store);
    return { metrics: s.record(node.hash)!.metrics as Record<string, unknown>, report: JSON.parse(readFileSync(join(s.nodeDir(node.hash), 'report', 'report.json'), 'utf8')) };
  };

  it('reports accuracy ± its standard error in percent', () => {
    const { metrics, report } = result('exact');
    expect(report.accuracy).toBe(true);
    const r = report.results[0];
    const n = report.prompts;
    expect(n).toBe(40);
    const correct = r.mean_score * n;
    expect(Math.abs(correct - Math.round(correct))).toBeLessThan(1e-9); // a fraction of answers
    const p = r.mean_score;
    expect(r.stderr).toBeCloseTo(Math.sqrt((p * (1 - p)) / (n - 1)), 12); // sample sd / √n of 0/1 scores
    expect(String(metrics['headline'])).toContain(`s.model: accuracy ${(100 * p).toFixed(1)}% ± ${(100 * r.stderr).toFixed(1)}%`);
  });

  it('keeps a graded judge a score', () => {
    const { metrics, report } = result('graded');
    expect(report.accuracy).toBe(false);
    expect(String(metrics['headline'])).toMatch(/s\.model: score -?\d\.\d{3} ± \d\.\d{3}/);
  });
});
