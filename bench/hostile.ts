// The hostile-input campaign (issue 17): every case of tests/hostile/cases.ts — malformed specs,
// hostile model/tokenizer/adapter folders, damaged stores and checkpoints, damaged datasets — run
// against rlhfc, with a 20 s watchdog per case (a hang kills the worker, is recorded, and the campaign
// goes on), and a table of outcomes: exit codes, failures of expectation, max output, time, peak RSS.
//
//   npx tsx bench/hostile.ts                      # the whole campaign (300 random spec mutations, seed 17)
//   HOSTILE_SPECS=2000 HOSTILE_SEED=5 npx tsx bench/hostile.ts
//   npx tsx bench/hostile.ts --only store         # one class
//   npx tsx bench/hostile.ts --list               # print the cases only
//
// Cases run in a worker process (this file with --worker) in-process through the CLI's `main` or the
// loaders, so the campaign takes minutes, not hours; the watchdog lives in the parent.

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const SPECS = Number(process.env.HOSTILE_SPECS ?? 300);
const SEED = Number(process.env.HOSTILE_SEED ?? 17);
const HANG_MS = 20_000;
const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;

interface Result {
  i: number;
  cls: string;
  name: string;
  expect: string;
  exit: number | 'hang';
  bytes: number;
  ms: number;
  rssMB: number;
  ok: boolean;
  why: string;
  head: string;
}

async function worker(from: number): Promise<void> {
  process.env.RLHFC_BACKEND ??= 'cpu';
  const { allCases, buildStore, verdict } = await import('../tests/hostile/cases.ts');
  const cases = allCases(SPECS, SEED).filter((c) => !only || c.cls === only);
  const root = mkdtempSync(join(tmpdir(), 'rlhfc-hostile-'));
  let store: Promise<{ spec: string; dir: string }> | undefined;
  const ctx = { store: () => (store ??= buildStore(join(root, 'base'))) };
  // quiet: stages print progress to stderr; the parent reads results from stdout only
  process.stderr.write = (() => true) as typeof process.stderr.write;
  // The shared finished store is built before the watchdog starts (it is a real training run).
  if (cases.slice(from).some((c) => c.cls === 'store')) await ctx.store();
  for (let i = from; i < cases.length; i++) {
    const c = cases[i];
    const dir = join(root, `case-${i}`);
    mkdirSync(dir, { recursive: true });
    process.stdout.write(JSON.stringify({ start: i }) + '\n');
    const t = performance.now();
    let o;
    try {
      o = await c.run(dir, ctx);
    } catch (e) {
      o = { exit: 3, bytes: 0, text: `harness: ${(e as Error).stack}` };
    }
    const ms = performance.now() - t;
    const v = verdict(c, o, dir);
    const rssMB = process.resourceUsage().maxRSS / 1024;
    const r: Result = { i, cls: c.cls, name: c.name, expect: c.expect, exit: o.exit, bytes: o.bytes, ms, rssMB, ok: v.ok, why: v.why, head: o.text.split('\n').find((l) => /error|warning|corrupt|damaged/.test(l))?.slice(0, 160) ?? o.text.slice(0, 160) };
    process.stdout.write(JSON.stringify(r) + '\n');
    rmSync(dir, { recursive: true, force: true });
  }
  rmSync(root, { recursive: true, force: true });
  process.stdout.write(JSON.stringify({ done: cases.length }) + '\n');
  process.exit(0);
}

async function parent(): Promise<void> {
  const results: Result[] = [];
  let next = 0;
  let total = Infinity;
  const t0 = performance.now();
  while (next < total) {
    const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--worker', String(next), ...(only ? ['--only', only] : [])], { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
    let current = -1;
    let timer: NodeJS.Timeout | undefined;
    let hung = false;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        hung = true;
        child.kill('SIGKILL');
      }, HANG_MS);
    };
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (l) => {
      let m: { start?: number; done?: number } & Partial<Result>;
      try {
        m = JSON.parse(l);
      } catch {
        return;
      }
      if (m.start !== undefined) {
        current = m.start;
        arm();
      } else if (m.done !== undefined) {
        total = m.done;
        clearTimeout(timer);
      } else {
        clearTimeout(timer);
        results.push(m as Result);
        next = (m as Result).i + 1;
        const r = m as Result;
        if (!r.ok) process.stderr.write(`  ✗ #${r.i} [${r.cls}] ${r.name}: ${r.why} — ${r.head}\n`);
        if (results.length % 50 === 0) process.stderr.write(`  … ${results.length} cases (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
      }
    });
    const code: number | null = await new Promise((res) => child.on('close', (c) => res(c)));
    clearTimeout(timer);
    if (hung || (code !== 0 && total === Infinity)) {
      // The case that was running hung (or killed the worker): record it and go on after it.
      if (current >= 0) {
        results.push({ i: current, cls: '?', name: `case #${current}`, expect: '?', exit: 'hang', bytes: 0, ms: HANG_MS, rssMB: 0, ok: false, why: hung ? `no result within ${HANG_MS / 1000} s` : `worker died (exit ${code})`, head: '' });
        process.stderr.write(`  ✗ #${current}: ${hung ? 'hang' : `worker died (${code})`}\n`);
        next = current + 1;
      } else throw new Error(`worker failed before its first case (exit ${code})`);
    }
  }
  report(results, (performance.now() - t0) / 1000);
}

function report(results: Result[], seconds: number): void {
  const classes = ['spec', 'model', 'store', 'dataset', '?'];
  const rows = classes
    .map((cls) => {
      const rs = results.filter((r) => r.cls === cls);
      if (!rs.length) return undefined;
      const count = (f: (r: Result) => boolean) => rs.filter(f).length;
      return [
        cls,
        String(rs.length),
        String(count((r) => r.exit === 0)),
        String(count((r) => r.exit === 1)),
        String(count((r) => r.exit === 2)),
        String(count((r) => r.exit === 3)),
        String(count((r) => r.exit === 'hang')),
        String(count((r) => r.why.includes('accepted'))),
        String(count((r) => !r.ok)),
        `${(Math.max(...rs.map((r) => r.bytes)) / 1024).toFixed(1)} KB`,
        `${(Math.max(...rs.map((r) => r.ms)) / 1000).toFixed(1)} s`,
        `${Math.max(...rs.map((r) => r.rssMB)).toFixed(0)} MB`,
      ];
    })
    .filter((r): r is string[] => Boolean(r));
  const head = ['class', 'cases', 'exit 0', 'exit 1', 'exit 2', 'exit 3', 'hangs', 'accepted damage', 'failed', 'max output', 'max time', 'peak RSS'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (c: string[]) => c.map((x, i) => (i ? x.padStart(w[i]) : x.padEnd(w[i]))).join('  ');
  console.log(`\nhostile-input campaign: ${results.length} cases in ${seconds.toFixed(0)} s (spec mutations: ${SPECS}, seed ${SEED}; watchdog ${HANG_MS / 1000} s)\n`);
  console.log([line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n'));
  console.log(`\ntargets: 0 exit-3, 0 hangs over 20 s, peak memory < 3 GB, 0 damaged artifacts accepted, output < 20 KB per command`);
  console.log('\nslowest cases:');
  for (const r of [...results].sort((a, b) => b.ms - a.ms).slice(0, 5)) console.log(`  ${(r.ms / 1000).toFixed(1)} s  #${r.i} [${r.cls}] ${r.name} (exit ${r.exit}, ${r.bytes} bytes)`);
  const failed = results.filter((r) => !r.ok);
  if (failed.length) {
    console.log(`\n${failed.length} case(s) missed their expectation:`);
    for (const r of failed) console.log(`  #${r.i} [${r.cls}] ${r.name}: ${r.why} (exit ${r.exit}) ${r.head}`);
  }
  process.exitCode = failed.length ? 1 : 0;
}

if (args.includes('--list')) {
  const { allCases } = await import('../tests/hostile/cases.ts');
  const cases = allCases(SPECS, SEED).filter((c) => !only || c.cls === only);
  for (const [i, c] of cases.entries()) console.log(`${i}\t${c.cls}\t${c.expect}\t${c.name}`);
  const by = new Map<string, number>();
  for (const c of cases) by.set(c.cls, (by.get(c.cls) ?? 0) + 1);
  console.log([...by].map(([k, v]) => `${k}: ${v}`).join(', '));
} else if (args.includes('--worker')) await worker(Number(args[args.indexOf('--worker') + 1]));
else await parent();
