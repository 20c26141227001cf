// The training-health monitor on real tiny runs (tests/fixtures/health.rlhf): each planted pathology
// is flagged by its check, the healthy stages raise nothing, and the findings reach the run record
// (run.json) and the HTML report.
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.ts';
import { initBackend } from '../../runtime/tensor-backend.ts';
import { runPlan, type RunResult } from '../../runtime/runner.ts';
import { buildReport } from '../../runtime/html-report.ts';

const SPEC = 'tests/fixtures/health.rlhf';
const store = mkdtempSync(join(tmpdir(), 'rlhfc-health-'));
const plan = compileFile(SPEC).plan!;
const lines: string[] = [];
let res: RunResult;

beforeAll(async () => {
  await initBackend('auto');
  res = await runPlan(plan, { specPath: SPEC, storeDir: store, write: (l) => lines.push(l), tty: false });
}, 300_000);

const checks = (stage: string) => (res.stages.find((s) => s.name === stage)?.health ?? []).map((f) => f.check);

it('flags each planted pathology with its check, and the healthy stages with none', () => {
  expect(checks('flat')).toContain('zero_std'); // identical rewards
  expect(checks('cut')).toContain('truncation'); // max_new_tokens: 2
  expect(checks('shrink')).toEqual(expect.arrayContaining(['length_corr', 'length_drift'])); // reward = −length
  expect(checks('slide')).toEqual(['chosen_falling']); // DPO pushing both answers down
  expect(checks('ok')).toEqual([]);
  expect(checks('chat')).toEqual([]);
  // each finding printed once, as a warning line naming its stage, step and check
  for (const s of res.stages) for (const f of s.health ?? []) expect(lines.filter((l) => l.startsWith(`warning: ${s.name}: step ${f.step}: `) && l.endsWith(`[health.${f.check}]`))).toHaveLength(1);
});

it('keeps the findings in run.json and shows them in the report', () => {
  const runs = join(store, 'runs');
  const [id] = readdirSync(runs);
  const record = JSON.parse(readFileSync(join(runs, id, 'run.json'), 'utf8'));
  const slide = record.stages.find((s: { name: string }) => s.name === 'slide');
  expect(slide.health.map((f: { check: string }) => f.check)).toEqual(['chosen_falling']);
  expect(record.stages.find((s: { name: string }) => s.name === 'ok').health).toBeUndefined();
  const html = buildReport(plan, store);
  const section = (name: string) => html.slice(html.indexOf(`data-stage="${name}"`), html.indexOf('</section>', html.indexOf(`data-stage="${name}"`)));
  expect(section('slide')).toContain('Training health');
  expect(section('slide')).toContain('[health.chosen_falling]');
  expect(section('ok')).not.toContain('Training health');
});
