// `rlhfc run` through the command line: what the user sees when the store is in the way, and the
// help texts' defaults.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS, main, type Io } from '../../cli/main.ts';

function capture(): Io & { text: { out: string; err: string } } {
  const text = { out: '', err: '' };
  return { text, out: (s) => (text.out += s), err: (s) => (text.err += s) };
}

const TINY = [
  'seed = 3',
  'dataset text = corpus("sentiment") { kind: text  limit: 60 }',
  'tokenizer chars = chars(text)',
  'model m = gpt { layers: 1  heads: 2  width: 8  context: 16 }',
  'stage base: pretrain { model: m  tokenizer: chars  data: text  max_steps: 2  batch_size: 2  block_size: 8 }',
  '',
].join('\n');

describe('rlhfc run', () => {
  it('names report.html when a folder is in its way: exit 1, no stack trace, the stage result kept', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rlhfc-report-dir-'));
    const spec = join(dir, 'tiny.rlhf');
    writeFileSync(spec, TINY);
    const report = join(dir, '.rlhfc', 'report.html');
    mkdirSync(report, { recursive: true });
    const io = capture();
    const code = await main(['run', spec, '--backend', 'cpu'], io);
    expect(io.text.err).not.toContain('internal error');
    expect(io.text.err).not.toMatch(/\n\s+at /); // no stack trace
    expect(io.text.err).toContain(`cannot write the report ${report}`);
    expect(code).toBe(1);
    expect(io.text.out).toMatch(/base\s+pretrain\s+ran/);
    expect(readdirSync(join(dir, '.rlhfc', 'nodes')).length).toBeGreaterThan(0);
    // The stage's result is safely stored: the next run reuses it (and still names the folder).
    const again = capture();
    expect(await main(['run', spec, '--backend', 'cpu'], again)).toBe(1);
    expect(again.text.out).toMatch(/base\s+pretrain\s+cached/);
    expect(existsSync(report)).toBe(true);
  });
});

describe('a dataset with nothing to learn', () => {
  it('an sft stage over pairs whose every prompt and response is empty is an error naming the dataset', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rlhfc-empty-pairs-'));
    const spec = join(dir, 'empty.rlhf');
    const data = join(dir, 'pairs.jsonl');
    writeFileSync(data, Array.from({ length: 6 }, () => JSON.stringify({ prompt: '', response: '' })).join('\n') + '\n');
    writeFileSync(
      spec,
      [
        'seed = 3',
        'dataset text = corpus("sentiment") { kind: text  limit: 60 }',
        'dataset empty = jsonl("pairs.jsonl") { kind: pairs }',
        'tokenizer chars = chars(text)',
        'model m = gpt { layers: 1  heads: 2  width: 8  context: 16 }',
        'stage tune: sft { model: m  tokenizer: chars  data: empty  max_steps: 2  batch_size: 2  max_seq_length: 8 }',
        '',
      ].join('\n'),
    );
    const io = capture();
    const code = await main(['run', spec, '--backend', 'cpu'], io);
    expect(io.text.err).not.toContain('internal error');
    expect(io.text.err).toContain(data);
    expect(io.text.err).toContain('nothing to learn');
    expect(code).toBe(1);
    // One record with a response is something to learn (control).
    writeFileSync(data, [JSON.stringify({ prompt: '', response: 'good' }), ...Array.from({ length: 5 }, () => JSON.stringify({ prompt: '', response: '' }))].join('\n') + '\n');
    const ok = capture();
    expect(await main(['run', spec, '--backend', 'cpu'], ok), ok.text.err).toBe(0);
  });
});

describe('help texts', () => {
  it('give the default store as ./.rlhfc, never the old ./.rlhf', async () => {
    const io = capture();
    expect(await main(['--help'], io)).toBe(0);
    const program = io.text.out;
    const commands = [...program.matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1]).filter((c) => c !== 'help');
    expect(commands).toEqual(expect.arrayContaining(COMMANDS.length ? ['run', 'runs', 'clean', 'gc', 'verify'] : []));
    let all = program;
    for (const c of commands) {
      const h = capture();
      expect(await main([c, '--help'], h)).toBe(0);
      all += h.text.out;
    }
    expect(all).toContain('./.rlhfc');
    expect(all).not.toMatch(/\.\/\.rlhf(?!c)/);
  });
});
