// The runner as users meet it: `rlhfc run` in a real child process on a tiny real-data pipeline
// (tests/fixtures/runner.rlhf). Cache reuse, targeted reruns, compile's status marks, failures that
// keep earlier results, and resume after SIGINT and SIGKILL with bit-identical final weights.

import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.ts';
import { ArtifactStore } from '../../runtime/store.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/rlhfc.mjs');
const FIXTURE = join(ROOT, 'tests/fixtures/runner.rlhf');

interface Done {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

/** Run the CLI in a child process; `until` may kill it (returns true once it has). */
function rlhfc(args: string[], opts: { cwd?: string; until?: (kill: (s: NodeJS.Signals) => void, err: string) => boolean } = {}): Promise<Done> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, env: { ...process.env, RLHFC_BACKEND: 'auto', CI: '1' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    let timer: NodeJS.Timeout | undefined;
    if (opts.until) {
      timer = setInterval(() => {
        if (opts.until!((s) => child.kill(s), err)) clearInterval(timer);
      }, 10);
    }
    child.on('error', fail);
    child.on('close', (code, signal) => {
      clearInterval(timer);
      done({ code, signal, out, err });
    });
  });
}

/** Every file of every finished stage's model folder, by stage hash and file name. */
function modelFiles(store: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const nodes = join(store, 'nodes');
  for (const h of readdirSync(nodes)) {
    const dir = join(nodes, h, 'model');
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) if (f.endsWith('.safetensors')) out.set(`${h.slice(0, 12)}/${f}`, readFileSync(join(dir, f)));
  }
  return out;
}

const plan = compileFile(FIXTURE).plan!;
const hashOf = (name: string) => plan.nodes.find((n) => n.category === 'stage' && n.name === name)!.hash;
const hasCheckpoint = (store: string, stage: string) => existsSync(join(store, 'checkpoints', hashOf(stage), 'ckpt', 'state.json'));

let work: string;
let reference: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'rlhfc-runner-'));
  reference = join(work, 'reference');
  // The uninterrupted run every other result is compared with.
  const r = await rlhfc(['run', FIXTURE, '--store', reference]);
  expect(r.code, r.err).toBe(0);
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('rlhfc run: cache', () => {
  it('a second run of an unchanged pipeline trains nothing, and compile says so', async () => {
    const r = await rlhfc(['run', FIXTURE, '--store', reference]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).not.toMatch(/running (pretrain|sft|ppo)/);
    expect(r.out).toMatch(/base\s+pretrain\s+cached/);
    expect(r.out).toMatch(/tune\s+ppo\s+cached/);
    const c = await rlhfc(['compile', FIXTURE, '--store', reference]);
    expect(c.out).toContain('status: 3 cached, 0 stale, 0 to run');
    expect(c.out).toContain('has nothing to do');
  }, 60_000);

  it('changing one SFT parameter reruns exactly SFT and what depends on it; compile names the change', async () => {
    const dir = join(work, 'edit');
    const spec = join(dir, 'runner.rlhf');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    copyFileSync(FIXTURE, spec);
    const first = await rlhfc(['run', spec]);
    expect(first.code, first.err).toBe(0);
    writeFileSync(spec, readFileSync(spec, 'utf8').replace('lora { r: 2  alpha: 4', 'lora { r: 2  alpha: 8'));
    const c = await rlhfc(['compile', spec]);
    expect(c.out).toMatch(/base: pretrain .* cached/);
    expect(c.out).toMatch(/chat: sft .* stale\n {2}stale: lora\.alpha 4 → 8\n/);
    expect(c.out).toMatch(/tune: ppo .* stale\n {2}stale: input policy: stage chat reruns\n/);
    expect(c.out).toContain('status: 1 cached, 2 stale, 0 to run');
    const second = await rlhfc(['run', spec]);
    expect(second.code, second.err).toBe(0);
    expect(second.out).toMatch(/base\s+pretrain\s+cached/);
    expect(second.out).toMatch(/chat\s+sft\s+ran/);
    expect(second.out).toMatch(/tune\s+ppo\s+ran/);
    // Runs are recorded with their logs; `rlhfc runs` lists them newest first.
    const runs = await rlhfc(['runs', spec]);
    const lines = runs.out.split('\n').filter((l) => /^\d{8}-\d{6}/.test(l));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/ok\s+1 cached, 2 ran/);
    expect(lines[1]).toMatch(/ok\s+\d ran/);
    const runId = lines[0].split(' ')[0];
    const runDir = join(dir, '.rlhfc', 'runs', runId);
    expect(readFileSync(join(runDir, 'log.txt'), 'utf8')).toContain('chat: done in');
    // Each stage that ran has its peak resident memory in the run record and the table; a cached one has none.
    const rec = JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8')) as { stages: { name: string; status: string; peakRssMB?: number }[] };
    const peakOf = (name: string) => rec.stages.find((st) => st.name === name)!.peakRssMB;
    expect(peakOf('chat')).toBeGreaterThan(20); // a Node.js process with TensorFlow.js loaded is far above 20 MB
    expect(peakOf('chat')).toBeLessThan(24 * 1024); // in MB, not KB: below this machine's memory
    expect(peakOf('base')).toBeUndefined();
    expect(second.out).toMatch(/peak RSS/);
    expect(second.out).toMatch(new RegExp(`chat\\s+sft\\s+ran\\s+[\\d.]+ s\\s+${peakOf('chat')} MB`));
    const metrics = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { stage: string });
    expect(new Set(metrics.map((m) => m.stage))).toEqual(new Set(['chat', 'tune']));
    // gc drops the superseded SFT and PPO results (the edited spec no longer uses them), keeps the rest.
    const store = new ArtifactStore(join(dir, '.rlhfc'));
    const before = store.records().length;
    const gc = await rlhfc(['gc', spec]);
    expect(gc.code, gc.err).toBe(0);
    expect(gc.out).toMatch(/removed .* \(chat, sft\)/);
    expect(gc.out).toMatch(/removed .* \(tune, ppo\)/);
    expect(store.records().length).toBe(before - 2);
    const after = await rlhfc(['compile', spec]);
    expect(after.out).toContain('status: 3 cached');
  }, 120_000);
});

describe('rlhfc run: faults', () => {
  it('a stage that fails leaves the earlier results intact and names the stage', async () => {
    const dir = join(work, 'fail');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    const spec = join(dir, 'runner.rlhf');
    copyFileSync(FIXTURE, spec);
    const first = await rlhfc(['run', spec, '--stage', 'chat']);
    expect(first.code, first.err).toBe(0);
    const before = modelFiles(join(dir, '.rlhfc'));
    writeFileSync(join(dir, 'judges.ts'), 'export function broken(prompt: string, response: string): number {\n  throw new Error(`judge exploded on ${JSON.stringify(prompt)}`);\n}\n');
    writeFileSync(spec, readFileSync(spec, 'utf8').replace('reward: vader()', 'reward: fn("judges.ts#broken")'));
    const r = await rlhfc(['run', spec]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/stage 'tune'/);
    expect(r.err).toContain('judge exploded');
    expect(r.err).not.toMatch(/^\s+at /m); // no stack trace for a user error
    expect(r.out).toMatch(/tune\s+ppo\s+failed/);
    expect(modelFiles(join(dir, '.rlhfc'))).toEqual(before);
    expect(existsSync(join(dir, '.rlhfc', 'nodes', hashOf('tune')))).toBe(false);
    expect(readdirSync(join(dir, '.rlhfc', 'tmp'))).toEqual([]);
  }, 120_000);

  it('a store in use by a live run is refused with a clear message; gc leaves it alone too', async () => {
    const store = join(work, 'busy');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(store, { recursive: true });
    writeFileSync(join(store, 'lock'), `${process.pid}\n`); // this test process: alive
    const r = await rlhfc(['run', FIXTURE, '--store', store]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`is in use by another rlhfc process (pid ${process.pid}); wait for it to finish or stop it`);
    const g = await rlhfc(['gc', FIXTURE, '--store', store]);
    expect(g.code).toBe(1);
    rmSync(join(store, 'lock'));
  }, 60_000);

  it('stops at the next step on SIGINT even when no checkpoint is due (a stage is synchronous work)', async () => {
    // pretraining for 5,000 steps with the default checkpoint interval (2 minutes): Ctrl-C once its
    // first metrics line is out must stop it within seconds, not at the stage's end
    const spec = join(work, 'long.rlhf');
    writeFileSync(spec, readFileSync(FIXTURE, 'utf8').replace('max_steps: 100  log_every: 20  checkpoint_every: 10', 'max_steps: 5000  log_every: 20'));
    let sent = 0;
    const r = await rlhfc(['run', spec, '--store', join(work, 'long')], {
      until: (kill, err) => err.includes('base: step=') && ((sent = performance.now()), kill('SIGINT'), true),
    });
    expect(r.code, r.err).toBe(130);
    expect(r.err).toMatch(/interrupted at step (\d+)\/5000/);
    expect(Number(/interrupted at step (\d+)\/5000/.exec(r.err)![1])).toBeLessThan(5000);
    expect(performance.now() - sent).toBeLessThan(15_000);
  }, 120_000);

  it('resumes after SIGINT and after SIGKILL and ends with the same weights as an uninterrupted run', async () => {
    const store = join(work, 'killed');
    // 1. Ctrl-C during pretraining, once its first checkpoint exists: it stops at a step boundary,
    //    saves, says how to resume, exits 130.
    const a = await rlhfc(['run', FIXTURE, '--store', store], {
      until: (kill) => hasCheckpoint(store, 'base') && (kill('SIGINT'), true),
    });
    expect(a.code, a.err).toBe(130);
    expect(a.err).toMatch(/interrupted at step \d+\/100/);
    expect(a.err).toContain(`resume with: rlhfc run ${FIXTURE} --store ${store}`);
    const c = await rlhfc(['compile', FIXTURE, '--store', store]);
    expect(c.out).toMatch(/base: pretrain .* resume\n {2}resume: checkpoint at step \d+/);
    // 2. Resume; SIGKILL (no chance to clean up) in the middle of PPO, after its first checkpoint.
    const b = await rlhfc(['run', FIXTURE, '--store', store], {
      until: (kill) => hasCheckpoint(store, 'tune') && (kill('SIGKILL'), true),
    });
    expect(b.signal).toBe('SIGKILL');
    expect(b.err).toMatch(/base: running pretrain, checkpoint found at step \d+/);
    expect(b.err).toMatch(/base: resuming from the checkpoint at step \d+\/\d+/);
    expect(new ArtifactStore(store).isFinished(hashOf('tune'))).toBe(false);
    expect(new ArtifactStore(store).runs()[0].shownStatus).toBe('killed');
    // 3. Resume again: PPO continues from its checkpoint and everything matches the reference bit for bit.
    const d = await rlhfc(['run', FIXTURE, '--store', store]);
    expect(d.code, d.err).toBe(0);
    expect(d.err).toMatch(/tune: running ppo, checkpoint found at step \d+/);
    expect(d.err).toMatch(/tune: resuming from the checkpoint at step \d+\/\d+/);
    expect(d.out).toMatch(/tune\s+ppo\s+resumed/);
    const got = modelFiles(store);
    const want = modelFiles(reference);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [k, v] of want) expect(got.get(k)!.equals(v), `${k} differs from the uninterrupted run`).toBe(true);
    // Checkpoints of finished stages are gone; `clean` finds the killed process's temp folder.
    expect(existsSync(join(store, 'checkpoints', hashOf('tune')))).toBe(false);
    const cl = await rlhfc(['clean', '--store', store]);
    expect(cl.code).toBe(0);
    expect(cl.out).toMatch(/removed .*unfinished work of a stopped process|nothing to remove/);
    expect(existsSync(join(store, 'tmp')) ? readdirSync(join(store, 'tmp')) : []).toEqual([]);
  }, 240_000);
});
