// Hostile inputs (issue 17), the fast part: a fixed-seed sample of the campaign in tests/hostile/cases.ts
// (the whole campaign, with timings and peak memory, is `npx tsx bench/hostile.ts`). Every case must end
// in a clear error or a correct result: never exit 3, never a raw JavaScript error, never more than
// 20 KB of output, never a damaged artifact reused.

import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ArtifactStore } from '../runtime/store.ts';
import { planStatus } from '../runtime/status.ts';
import { compileFile } from '../compiler/compile.ts';
import { STORE_SPEC, buildStore, cli, datasetCases, exportCases, flipBytes, modelCases, specCase, specMutation, specTexts, storeCases, verdict, type HostileCase } from './hostile/cases.ts';

const root = mkdtempSync(join(tmpdir(), 'rlhfc-hostile-test-'));
let store: Promise<{ spec: string; dir: string }> | undefined;
const ctx = { store: () => (store ??= buildStore(join(root, 'base'))) };
let n = 0;

async function expectHandled(c: HostileCase): Promise<void> {
  const dir = join(root, `case-${n++}`);
  mkdirSync(dir, { recursive: true });
  const o = await c.run(dir, ctx);
  const v = verdict(c, o, dir);
  expect(v.ok, `[${c.cls}] ${c.name}: ${v.why}\n${o.text.slice(0, 2000)}`).toBe(true);
}

afterAll(() => {
  // temp folders are left to the OS (they may hold FIFOs the cleanup would not remove quickly)
});

describe('hostile specs', () => {
  const fixed = specTexts().filter(([name]) => !/10 MB file|100000|10000 declarations/.test(name));
  it.each(fixed.map(([name, body]) => [name, body] as const))('%s', async (name, body) => {
    await expectHandled(specCase(name, body));
  });

  it.each(exportCases().map((c) => [c.name, c] as const))('%s', async (_, c) => {
    await expectHandled(c);
  });

  it('fast-check: mutations of the seed example (fixed seed) end in exit 0/1/2 with bounded output', async () => {
    await fc.assert(
      fc.asyncProperty(specMutation(), async ([name, body]) => {
        await expectHandled(specCase(name, body));
      }),
      { seed: 17, numRuns: Number(process.env.HOSTILE_RUNS ?? 40) },
    );
  });

  it('a binary spec is one error, not a flood; nesting is bounded; no grammar rule names', async () => {
    const dir = mkdtempSync(join(root, 'spec-'));
    const bin = join(dir, 'bin.rlhf');
    writeFileSync(bin, Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 2654435761) >>> 24)));
    const r = await cli(['check', bin]);
    expect(r.text).toMatch(/spec is not UTF-8 text|holds NUL bytes/);
    expect(r.text.match(/error RLHF/g)).toHaveLength(1);
    const deep = join(dir, 'deep.rlhf');
    writeFileSync(deep, `seed = ${'('.repeat(300)}1${')'.repeat(300)}\n`);
    expect((await cli(['check', deep])).text).toMatch(/RLHF1007: nesting deeper than 32 levels/);
    const setting = join(dir, 'setting.rlhf');
    writeFileSync(setting, 'seed 42\n');
    const s = await cli(['check', setting]);
    expect(s.text).toMatch(/expected '=' or '\{' after the setting name/);
    expect(s.text).not.toMatch(/settingDecl/);
    const long = join(dir, 'long.rlhf');
    writeFileSync(long, `seed = ${'x'.repeat(2_000_000)} @\n`);
    expect((await cli(['check', long])).bytes).toBeLessThan(2000);
  });
});

describe('hostile model, tokenizer and adapter folders', () => {
  // Every third case of the campaign (all of them run in bench/hostile.ts).
  const cases = modelCases().filter((_, i) => i % 3 === 0);
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    await expectHandled(c);
  });
});

describe('hostile datasets', () => {
  const cases = datasetCases().filter((c) => /\(check\)|control/.test(c.name) || /fifo|dev\/zero|binary|not UTF-8|folder/.test(c.name)).filter((c) => c.name.includes('jsonl') || c.name.includes('(check)'));
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    await expectHandled(c);
  }, 60_000);
});

describe('store integrity', () => {
  it('commit records the sha256 of every artifact file; a flipped byte, a deleted or added file is detected', () => {
    const s = new ArtifactStore(mkdtempSync(join(root, 'store-')));
    const tmp = s.beginNode('h1');
    mkdirSync(join(tmp, 'model'));
    writeFileSync(join(tmp, 'model', 'w.bin'), Buffer.alloc(4096, 7));
    writeFileSync(join(tmp, 'metrics.jsonl'), '{"step":1}\n');
    s.commitNode(tmp, { id: 'stage:a', kind: 'sft', hash: 'h1', params: {}, metrics: {}, seconds: 1 });
    const rec = JSON.parse(readFileSync(join(s.nodeDir('h1'), 'node.json'), 'utf8'));
    expect(Object.keys(rec.files).sort()).toEqual(['metrics.jsonl', 'model/w.bin']);
    expect(s.verifyNode('h1').ok).toBe(true);
    flipBytes(join(s.nodeDir('h1'), 'model', 'w.bin'), 1, 100);
    expect(s.verifyNode('h1')).toMatchObject({ ok: false, problem: expect.stringMatching(/model\/w.bin does not match the sha256/) });
    flipBytes(join(s.nodeDir('h1'), 'model', 'w.bin'), 1, 100); // flipped back: intact again
    expect(s.verifyNode('h1').ok).toBe(true);
    writeFileSync(join(s.nodeDir('h1'), 'extra'), 'x');
    expect(s.verifyNode('h1')).toMatchObject({ ok: false, problem: 'extra was not part of the stage\'s result' });
  });

  it('an empty, garbage or pid-0 lock is stale; a live pid holds the store', () => {
    const s = new ArtifactStore(mkdtempSync(join(root, 'store-')));
    for (const body of ['', 'garbage', '0\n', '-1', '\0\xff']) {
      writeFileSync(join(s.root, 'lock'), body);
      const release = s.lock();
      expect(readFileSync(join(s.root, 'lock'), 'utf8').trim()).toBe(String(process.pid));
      release();
    }
    writeFileSync(join(s.root, 'lock'), `${process.ppid}\n`);
    expect(() => s.lock()).toThrow(/in use by another rlhfc process/);
  });

  it('a damaged stage is `corrupt` in compile, set aside and rerun by run (never cached); verify reports it', async () => {
    const base = await ctx.store();
    const dir = mkdtempSync(join(root, 'e2e-'));
    const storeDir = join(dir, 'store');
    cpSync(base.dir, storeDir, { recursive: true });
    const spec = join(dir, 'tiny.rlhf');
    writeFileSync(spec, STORE_SPEC);
    const plan = compileFile(spec).plan!;
    const baseNode = plan.nodes.find((x) => x.name === 'base')!;
    const weights = join(storeDir, 'nodes', baseNode.hash, 'model', 'model.safetensors');
    const before = readFileSync(weights);
    flipBytes(weights, 1, 2000);
    expect(planStatus(plan, storeDir).get(baseNode.id)?.state).toBe('corrupt');
    const compiled = await cli(['compile', spec, '--store', storeDir]);
    expect(compiled.text).toMatch(/base: pretrain.*corrupt/);
    const verified = await cli(['verify', '--store', storeDir]);
    expect(verified.exit).toBe(1);
    expect(verified.text).toMatch(/corrupt +nodes\/[0-9a-f]+: model\/model\.safetensors does not match the sha256/);
    const ran = await cli(['run', spec, '--store', storeDir]);
    expect(ran.exit, ran.text).toBe(0);
    expect(ran.text).toMatch(/base: corrupt \(model\/model\.safetensors does not match/);
    expect(ran.text).not.toMatch(/base: cached/);
    // Rerun from the same seed: the same bytes as before the damage; the damaged copy is kept aside.
    expect(readFileSync(weights).equals(before)).toBe(true);
    expect(readdirSync(join(storeDir, 'nodes')).some((f) => f.startsWith(`${baseNode.hash}.corrupt-`))).toBe(true);
    expect((await cli(['verify', '--store', storeDir])).exit).toBe(0);
  }, 240_000);

  const sample = storeCases().filter((c) => /lock: empty|nodes\/ replaced by a file → rlhfc run|node\.json: null|runs\/<id>\/plan\.json: binary garbage → rlhfc report|metrics\.jsonl: truncated → rlhfc report/.test(c.name));
  it.each(sample.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    await expectHandled(c);
  }, 240_000);

  it('the sample above is not empty', () => {
    expect(sample.length).toBeGreaterThanOrEqual(4);
    expect(existsSync(root)).toBe(true);
  });
});
