#!/usr/bin/env node
// Builds the optional native backend (runtime/native/build/Release/rlhfc_native.node) with node-gyp.
// Run by `npm install` / `npm ci` (package.json "install" script): it never fails the install — when a
// compiler is missing it prints one notice and rlhfc falls back to wasm at run time. It needs only g++
// and make (and Node's headers): the matrix products are our own (src/gemm.cc); OpenBLAS is optional
// and loaded at run time when RLHFC_NATIVE_BLAS=openblas, never needed to build.
// `npm run build:native` runs it with --strict: then a failed build exits with status 1.
// RLHFC_SKIP_NATIVE=1 skips the build. An up-to-date build (same sources, compiler, Node) that
// loads is kept unless --force.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const strict = process.argv.includes('--strict');
const force = process.argv.includes('--force');
const HINT = 'sudo apt-get install -y g++ make && npm run build:native';

function done(ok, msg) {
  if (ok) console.log(`rlhfc: native backend built (${msg})`);
  else console.warn(`rlhfc: native backend not built: ${msg}.\n  rlhfc works without it (wasm backend, several times slower). For full speed: ${HINT}`);
  process.exit(ok || !strict ? 0 : 1);
}

if (process.env.RLHFC_SKIP_NATIVE === '1' && !strict) done(false, 'RLHFC_SKIP_NATIVE=1');
if (process.platform !== 'linux' || process.arch !== 'x64') done(false, `it is built for Linux x86-64 only (this is ${process.platform}-${process.arch})`);
const has = (cmd, args) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
if (!has('g++', ['--version'])) done(false, 'no C++ compiler (g++)');
if (!has('make', ['--version'])) done(false, 'no make');

// Skip the compile when the existing build matches these sources and tools and loads.
const addonPath = join(here, 'build', 'Release', 'rlhfc_native.node');
const out = (cmd, args) => spawnSync(cmd, args, { encoding: 'utf8' }).stdout ?? '';
const stamp = createHash('sha256')
  .update(['binding.gyp', ...readdirSync(join(here, 'src')).map((f) => join('src', f))].map((f) => `${f}\n${readFileSync(join(here, f), 'utf8')}`).join('\n'))
  .update(out('g++', ['--version']) + process.version)
  .digest('hex');
const stampPath = join(here, 'build', 'stamp');
const loads = () => spawnSync(process.execPath, ['-e', `require(${JSON.stringify(addonPath)}).info()`], { encoding: 'utf8' });
if (!force && existsSync(stampPath) && readFileSync(stampPath, 'utf8') === stamp && loads().status === 0) done(true, 'up to date: runtime/native/build/Release/rlhfc_native.node');

// node-gyp: npm's own copy (npm sets npm_config_node_gyp for scripts), else one next to this npm.
const candidates = [
  process.env.npm_config_node_gyp,
  process.env.npm_execpath && join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].filter(Boolean);
const gyp = candidates.find((p) => existsSync(p));
const args = gyp ? [gyp, 'rebuild'] : null;
if (!args && !has('node-gyp', ['--version'])) done(false, 'node-gyp not found (it comes with npm)');
// Use the headers of the running Node when it has them (no download), else node-gyp fetches them.
const prefix = resolve(dirname(process.execPath), '..');
const nodedir = existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
const cmd = args ? process.execPath : 'node-gyp';
const r = spawnSync(cmd, [...(args ?? ['rebuild']), ...nodedir, '--jobs=2'], { cwd: here, encoding: 'utf8', env: { ...process.env, JOBS: '2' } });
const log = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
try {
  writeFileSync(join(here, 'build', 'build.log'), log);
} catch {
  // no build folder: node-gyp failed before configuring
}
if (r.status !== 0) {
  const lines = log.split('\n').filter((l) => /error|Error|ERR!/.test(l)).slice(0, 8);
  console.warn(lines.join('\n'));
  done(false, `the compile failed (log: runtime/native/build/build.log)`);
}
// Check it loads (N-API version fine).
const check = loads();
if (check.status !== 0) done(false, `the addon does not load: ${(check.stderr || '').trim().split('\n')[0]}`);
writeFileSync(stampPath, stamp);
done(true, 'runtime/native/build/Release/rlhfc_native.node');
