// `rlhfc run --seeds N`: the plan under N seeds, its eval stages compared across them.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main, type Io } from '../../cli/main.ts';
import { formatSeedSummary, spread, summarizeSeeds } from '../../runtime/seeds.ts';

describe('seed summaries', () => {
  it('give mean ± sample standard deviation over seeds, per eval stage and model', () => {
    expect(spread([0.2, 0.4, 0.9])).toEqual({ mean: 0.5, sd: expect.closeTo(Math.sqrt((0.09 + 0.01 + 0.16) / 2), 12), values: [0.2, 0.4, 0.9] });
    expect(spread([0.3]).sd).toBe(0);
    const r = (model: string, score: number, kl?: number, flags?: string[]) => ({ model, mean_score: score, kl, degeneration: { words: { mean: 4 }, distinct_2: 0.8 }, flags });
    const rows = summarizeSeeds([
      { seed: 1, stage: 'cmp', results: [r('sft', 0.1), r('ppo', 0.5, 2, ['x'])] },
      { seed: 2, stage: 'cmp', results: [r('sft', 0.3), r('ppo', 0.7, 4)] },
    ]);
    expect(rows.map((x) => [x.model, x.seeds, x.score.mean, x.score.sd, x.kl?.mean, x.flagged])).toEqual([
      ['sft', [1, 2], 0.2, expect.closeTo(Math.SQRT2 * 0.1, 12), undefined, []],
      ['ppo', [1, 2], 0.6, expect.closeTo(Math.SQRT2 * 0.1, 12), 3, [1]],
    ]);
    const text = formatSeedSummary(rows);
    expect(text).toMatch(/^stage\s+model\s+seeds\s+score\s+KL/);
    expect(text).toMatch(/cmp\s+ppo\s+2\s+0\.600 ± 0\.141\s+3\.00 ± 1\.41\s+4\.0 ± 0\.0\s+0\.80 ± 0\.00\s+1/);
  });
});

describe('rlhfc run --seeds', () => {
  it('runs every seed, caches them, and prints the eval table across seeds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rlhfc-seeds-'));
    const spec = join(dir, 'tiny.rlhf');
    writeFileSync(
      spec,
      [
        'seed = 5',
        'dataset text = corpus("sentiment") { kind: text  limit: 200 }',
        'dataset prompts = corpus("sentiment") { kind: prompts  prompt_words: 3  limit: 60  split { validation: 0.2 } }',
        'tokenizer chars = chars(text)',
        'model m = gpt { layers: 1  heads: 2  width: 16  context: 32 }',
        'stage base: pretrain { model: m  tokenizer: chars  data: text  max_steps: 4  batch_size: 4  block_size: 16 }',
        'stage cmp: eval { models: [base.model]  prompts: prompts  judge: vader()  max_prompts: 6  generation { max_new_tokens: 6 } }',
        '',
      ].join('\n'),
    );
    let out = '';
    let err = '';
    const io: Io = { out: (s) => (out += s), err: (s) => (err += s) };
    expect(await main(['run', spec, '--seeds', '2', '--backend', 'cpu'], io), err).toBe(0);
    expect(err).toContain('== seed 5 (1 of 2)');
    expect(err).toContain('== seed 6 (2 of 2)');
    expect(out).toContain('eval across 2 seeds (5, 6):');
    expect(out).toMatch(/cmp\s+base\.model\s+2\s+-?\d\.\d{3} ± \d\.\d{3}/);
    const saved = JSON.parse(readFileSync(join(dir, '.rlhfc', 'seeds-5-6.json'), 'utf8'));
    expect(saved.rows[0].seeds).toEqual([5, 6]);
    expect(saved.rows[0].score.values).toHaveLength(2);
    // again: every seed is cached
    out = '';
    err = '';
    expect(await main(['run', spec, '--seeds', '2', '--backend', 'cpu'], io), err).toBe(0);
    expect(out.match(/base\s+pretrain\s+cached/g)).toHaveLength(2);
    expect(await main(['run', spec, '--seeds', '0'], io)).toBe(2);
    expect(err).toContain('--seeds must be a whole number from 1 to 100');
  });
});
