// Runs a user TypeScript reward function (fn("file.ts#name") in the spec) for the Python project:
//   node rlhf_export/ts_judge.mjs FILE EXPORT  <  [{"prompt", "response", "record"}, ...]  →  [score, ...]
// The file is compiled by tsx (npm), found from $RLHF_TSX_FROM or the current folder.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [file, name] = process.argv.slice(2);
const fail = (message) => {
  process.stderr.write(`fn(${file}#${name}): ${message}\n`);
  process.exit(1);
};
const from = process.env.RLHF_TSX_FROM ?? process.cwd();
let api;
try {
  // the ESM entry of tsx's API (require.resolve would give its CommonJS one)
  const pkg = createRequire(from.endsWith('/') ? from : `${from}/`).resolve('tsx/package.json');
  api = await import(pathToFileURL(join(dirname(pkg), 'dist/esm/api/index.mjs')).href);
} catch {
  fail('needs tsx (npm install tsx in the project folder, or set RLHF_TSX_FROM to a folder whose node_modules holds it)');
}
let mod = await api.tsImport(pathToFileURL(file).href, import.meta.url);
if (!(name in mod) && mod.default && typeof mod.default === 'object') mod = mod.default;
const fn = mod[name];
if (typeof fn !== 'function') fail(`the file does not export a function '${name}'`);
let input = '';
for await (const chunk of process.stdin) input += chunk;
const out = [];
for (const item of JSON.parse(input)) {
  let v;
  try {
    v = await fn(item.prompt, item.response, Object.freeze({ ...item.record }));
  } catch (e) {
    fail(`threw on prompt ${JSON.stringify(item.prompt)}: ${String(e instanceof Error ? e.message : e).split('\n')[0]}`);
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(`returned ${JSON.stringify(v)}, not a finite number, on prompt ${JSON.stringify(item.prompt)}`);
  out.push(v);
}
process.stdout.write(JSON.stringify(out));
