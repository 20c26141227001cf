// Whole-pipeline benchmark: `rlhfc run SPEC` on the native backend, from an empty artifact store,
// once on our own GEMM (what a fresh machine gets: no OpenBLAS needed) and once on OpenBLAS
// (RLHFC_NATIVE_BLAS=openblas, when libopenblas.so.0 is installed), one after the other in this run.
// Prints each stage's seconds (from the run record), the wall time of the whole command (process
// start, data loading and stages) and the ratio own / OpenBLAS.
// Usage: npx tsx bench/pipeline.ts [SPEC (default examples/seed.rlhf)] [--only own|openblas]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const argv = process.argv.slice(2);
const spec = argv.find((a, i) => !a.startsWith('--') && argv[i - 1] !== '--only') ?? 'examples/seed.rlhf';
const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1].split(',') : ['own', 'openblas'];
const cli = fileURLToPath(new URL('../bin/rlhfc.mjs', import.meta.url));

interface Result { blas: string; wall: number; stages: { name: string; seconds: number; status: string }[] }
const results: Result[] = [];
for (const blas of only) {
  const store = mkdtempSync(join(tmpdir(), `rlhfc-bench-${blas}-`));
  try {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [cli, 'run', spec, '--backend', 'native', '--store', store], {
      encoding: 'utf8',
      env: { ...process.env, RLHFC_NATIVE_BLAS: blas },
    });
    const wall = (performance.now() - t0) / 1000;
    const banner = r.stderr.split('\n').find((l) => l.startsWith('backend'))?.trim() ?? '';
    if (r.status !== 0) {
      console.log(`${blas}: failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
      continue;
    }
    const runs = readdirSync(join(store, 'runs')).sort();
    const rec = JSON.parse(readFileSync(join(store, 'runs', runs[runs.length - 1], 'run.json'), 'utf8')) as Result;
    console.log(`${blas}: ${banner}`);
    results.push({ blas, wall, stages: rec.stages });
  } finally {
    rmSync(store, { recursive: true, force: true });
  }
}
if (results.length) {
  const names = results[0].stages.map((s) => s.name);
  const col = (x: string) => x.padStart(12);
  console.log(`\n${spec}, fresh store, native backend\n${'stage'.padEnd(12)}${results.map((r) => col(r.blas)).join('')}`);
  for (const n of names) console.log(`${n.padEnd(12)}${results.map((r) => col(`${(r.stages.find((s) => s.name === n)?.seconds ?? NaN).toFixed(1)} s`)).join('')}`);
  const sum = (r: Result) => r.stages.reduce((a, s) => a + s.seconds, 0);
  console.log(`${'stages'.padEnd(12)}${results.map((r) => col(`${sum(r).toFixed(1)} s`)).join('')}`);
  console.log(`${'wall'.padEnd(12)}${results.map((r) => col(`${r.wall.toFixed(1)} s`)).join('')}`);
  const [own, ob] = [results.find((r) => r.blas === 'own'), results.find((r) => r.blas === 'openblas')];
  if (own && ob) console.log(`own GEMM / OpenBLAS: ${(own.wall / ob.wall).toFixed(2)}× wall, ${(sum(own) / sum(ob)).toFixed(2)}× stages`);
}
