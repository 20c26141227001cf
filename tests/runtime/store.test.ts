import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArtifactStore } from '../../runtime/store.ts';
import { buildReport, lineChart } from '../../runtime/html-report.ts';
import type { Plan } from '../../core/plan-types.ts';

const rec = (hash: string) => ({ id: 'stage:a', kind: 'sft', hash, params: {}, metrics: { loss: 1.5, headline: 'loss 1.5' }, seconds: 2 });

describe('artifact store', () => {
  it('a node is finished only after commit, and commit is a rename of a complete folder', () => {
    const store = new ArtifactStore(mkdtempSync(join(tmpdir(), 'rlhfc-store-')));
    const tmp = store.beginNode('abc');
    writeFileSync(join(tmp, 'weights.bin'), 'x');
    expect(store.isFinished('abc')).toBe(false);
    const dir = store.commitNode(tmp, rec('abc'));
    expect(store.isFinished('abc')).toBe(true);
    expect(existsSync(tmp)).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['node.json', 'weights.bin']);
    expect(store.record('abc')?.metrics['loss']).toBe(1.5);
    store.invalidate('abc');
    expect(store.isFinished('abc')).toBe(false);
  });
  it('an abandoned temp folder is never taken as finished', () => {
    const store = new ArtifactStore(mkdtempSync(join(tmpdir(), 'rlhfc-store-')));
    const tmp = store.beginNode('def');
    writeFileSync(join(tmp, 'node.json'), '{}'); // even with a node.json, tmp is not the store
    expect(store.isFinished('def')).toBe(false);
  });
});

describe('report', () => {
  it('draws a chart path through every point', () => {
    const svg = lineChart('loss', [
      [0, 3],
      [10, 2],
      [20, 1],
    ]);
    expect(svg.match(/[ML]\d/g)?.length).toBe(3);
    expect(svg).toContain('loss');
  });
  it('is self-contained: no scripts, no external resources', () => {
    const root = mkdtempSync(join(tmpdir(), 'rlhfc-report-'));
    const store = new ArtifactStore(root);
    const tmp = store.beginNode('h1');
    writeFileSync(join(tmp, 'metrics.jsonl'), '{"step":1,"loss":2.5}\n{"step":2,"loss":2.1,"sample_0":"The <b>nation</b>"}\n');
    store.commitNode(tmp, rec('h1'));
    const plan: Plan = {
      format: 'rlhfc-plan',
      version: 1,
      compiler: '0.1.0',
      spec: 'x.rlhf',
      seed: 0,
      settings: {},
      nodes: [
        { id: 'stage:a', category: 'stage', name: 'a', kind: 'sft', templates: [], loc: { file: 'x.rlhf', line: 1, col: 1 }, params: {}, defaults: [], inputs: {}, outputs: {}, hash: 'h1' },
        { id: 'stage:b', category: 'stage', name: 'b', kind: 'ppo', templates: [], loc: { file: 'x.rlhf', line: 2, col: 1 }, params: {}, defaults: [], inputs: { policy: { node: 'stage:a', output: 'model', type: 'causal_lm' } }, outputs: {}, hash: 'h2' },
      ],
    };
    const html = buildReport(plan, root);
    expect(html).not.toMatch(/<script|https?:\/\//);
    expect(html).toContain('The &lt;b&gt;nation&lt;/b&gt;');
    expect(html).toContain('not run yet');
    expect(html).toContain('loss 1.5');
  });
});
