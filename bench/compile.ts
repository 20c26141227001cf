// bench/compile: generate a spec of 2,000 stages (templates, imports) and compile it end to end.
// Usage: npx tsx bench/compile.ts [stages]
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileFile } from '../compiler/compile.ts';
import { parse } from '../grammar/parse.ts';

const N = Number(process.argv[2] ?? 2000);
const dir = mkdtempSync(join(tmpdir(), 'rlhfc-bench-'));
mkdirSync(join(dir, 'lib'));
writeFileSync(
  join(dir, 'lib/recipes.rlhf'),
  `template lora_sft(r = 8, lr = 1e-3): sft {
  lora { r: r  alpha: 2 * r  targets: ["c_attn", "c_fc"] }
  optimizer { lr: lr  schedule: cosine  warmup_steps: 10 }
  max_seq_length: 64
}
template lora_reward(r = 8): reward { lora { r: r  alpha: 2 * r }  max_seq_length: 64 }
template short_dpo(b = 0.1): dpo { beta: b  max_seq_length: 64  max_prompt_length: 16 }
`,
);
const lines = [
  'import "lib/recipes.rlhf"',
  'seed = 1',
  'dataset speeches = corpus("sotu")',
  'dataset reviews = corpus("sentiment") { kind: pairs }',
  'dataset prefs = corpus("sentiment") { kind: preferences }',
  'tokenizer bpe = bpe(speeches) { vocab_size: 512 }',
  'model tiny = gpt { layers: 2  heads: 4  width: 128  context: 64 }',
  'stage base: pretrain { model: tiny  tokenizer: bpe  data: speeches  max_steps: 10 }',
];
// Chains of sft → reward → dpo, each depending on the previous chain's model.
for (let i = 0; lines.length - 8 < N; i++) {
  const prev = i === 0 ? 'base' : `d${i - 1}`;
  lines.push(`stage s${i}: lora_sft(r: ${(i % 16) + 1}, lr: ${(i % 5) + 1}e-4) { model: ${prev}.model  data: reviews }`);
  lines.push(`stage r${i}: lora_reward(r: ${(i % 8) + 1}) { model: s${i}.model  data: prefs }`);
  lines.push(`stage d${i}: short_dpo(b: 0.${(i % 9) + 1}) { model: s${i}.model  data: prefs  epochs: ${(i % 3) + 1} }`);
}
const stages = lines.length - 7;
const spec = join(dir, 'big.rlhf');
const text = lines.slice(0, stages + 7).join('\n') + '\n';
writeFileSync(spec, text);

// The first compile is cold (as in a fresh `rlhfc compile`); the second is warm.
const tc = performance.now();
compileFile(spec);
const coldMs = performance.now() - tc;
const t0 = performance.now();
const r = compileFile(spec);
const ms = performance.now() - t0;
const t1 = performance.now();
parse(text, 'big.rlhf');
const parseMs = performance.now() - t1;
if (!r.plan) {
  console.error('compile failed:', r.diagnostics.slice(0, 3));
  process.exit(1);
}
const planStages = r.plan.nodes.filter((n) => n.category === 'stage').length;
console.log(`bench/compile: ${planStages} stages, ${text.split('\n').length} lines, compiled cold in ${coldMs.toFixed(0)} ms, warm in ${ms.toFixed(0)} ms (parse alone ${parseMs.toFixed(0)} ms); target < 1000 ms`);
