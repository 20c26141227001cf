// The project files of the TRL export besides the stage scripts: prepare_data.py (datasets),
// train_tokenizers.py, run.sh, accelerate.yaml, requirements.txt, README.md and the afinn() and vader() lexicons.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
import { runInNewContext } from 'node:vm';
import { createRequire } from 'node:module';
import type { Plan, PlanNode } from '../../../core/plan-types.ts';
import type { Diagnostic } from '../../../core/diagnostics.ts';
import type { ResolvedParams } from '../../../core/schema.ts';
import type { Py } from './rows.ts';
import { PINNED } from './versions.ts';
import { SMOKE } from './smoke.ts';
import { pyLit } from './py.ts';
import type { ClusterOptions, Resource } from './writer.ts';

/** One line of run.sh: `main` steps run on the main node only (other nodes wait for them). */
export interface Step {
  name: string;
  out: string;
  hash: string;
  mode: 'all' | 'main';
  command: string;
}

/** What the project-file writers need from the emitter. */
export interface ProjectContext {
  files: Map<string, string>;
  copies: Map<string, string>;
  steps: Step[];
  specDir: string;
  header: (comment: string, what: string) => string;
  where: (n: PlanNode) => string;
  corpusRecords: (node: PlanNode) => object[];
}

// ---- prepare_data.py -------------------------------------------------------------------------------

/** prepare_data.py and its step, when the plan has datasets. */
export function dataScript(plan: Plan, c: ProjectContext): void {
  const { files, copies, steps, header, where } = c;
  const datasets = plan.nodes.filter((n) => n.category === 'dataset');
  if (datasets.length) {
    const specs: string[] = [];
    for (const n of datasets) {
      const p = n.params;
      const split = p['split'] as ResolvedParams;
      let source: string;
      let format: string;
      if (n.kind === 'corpus') {
        source = `data/sources/${n.name}.jsonl`;
        format = 'records';
        files.set(source, c.corpusRecords(n).map((r) => JSON.stringify(r)).join('\n') + '\n');
      } else {
        const path = String(p['path']);
        source = `data/sources/${n.name}${extname(path) || (n.kind === 'text' ? '.txt' : `.${n.kind}`)}`;
        format = n.kind;
        copies.set(source, resolve(c.specDir, path));
      }
      const fields: [string, Py][] = [
        ['name', n.name],
        ['source', source],
        ['format', format],
        ['kind', n.datasetKind ?? 'text'],
      ];
      if (n.kind === 'jsonl' || n.kind === 'json') fields.push(['fields', nonDefaultFields(p['fields'] as ResolvedParams)]);
      if (n.kind === 'text') fields.push(['separator', p['separator'] ?? ''], ['prompt_words', 4]);
      fields.push(['limit', p['limit'] ?? 0], ['validation', split['validation']], ['split_seed', split['seed']]);
      specs.push(`    # ${n.name} = ${n.kind}(…) at ${where(n)}\n    dict(${fields.map(([k, v]) => `${k}=${pyLit(v)}`).join(', ')}),`);
    }
    files.set(
      'prepare_data.py',
      `${header('#', 'datasets')}
"""Write data/<name>/train.jsonl and validation.jsonl for every dataset of the spec.

Same records, field mappings and held-out splits as \`rlhfc run\` (see rlhf_export/data.py).
"""

from pathlib import Path

from rlhf_export.data import prepare

DATASETS = [
${specs.join('\n')}
]

if __name__ == "__main__":
    root = Path(__file__).resolve().parent
    prepare(DATASETS, root)
`,
    );
    steps.push({ name: 'data', out: 'data', hash: combined(datasets), mode: 'main', command: 'python prepare_data.py' });
  }
}

// ---- train_tokenizers.py -----------------------------------------------------------------------------

/** train_tokenizers.py and its step, when the plan trains tokenizers. */
export function tokenizerScript(plan: Plan, c: ProjectContext, resource: (n: PlanNode) => Resource): void {
  const { files, steps, header, where } = c;
  const trained = plan.nodes.filter((n) => n.category === 'tokenizer' && n.kind !== 'gpt2');
  if (trained.length) {
    const lines = trained.map((n) => {
      const data = resource(n);
      const path = data.kind === 'folder' ? data.path : '';
      const texts = `[r["text"] for r in load_records(root / ${pyLit(path)})[0]]`;
      const body =
        n.kind === 'bpe'
          ? `train_bpe(${texts}, vocab_size=${pyLit(n.params['vocab_size'])}, folder=out)`
          : `train_chars(${texts}, folder=out)`;
      return `    # tokenizer ${n.name} = ${n.kind}(…) at ${where(n)}: trained on the training split of ${path}
    out = root / "tokenizers" / ${pyLit(n.name)}
    ${body}
    print(f"tokenizer ${n.name}: {out}")`;
    });
    files.set(
      'train_tokenizers.py',
      `${header('#', 'tokenizers')}
"""Train the spec's tokenizers on their datasets' training splits (see rlhf_export/tokenizer_training.py)."""

from pathlib import Path

from rlhf_export.common import load_records
from rlhf_export.tokenizer_training import ${[...new Set(trained.map((n) => (n.kind === 'bpe' ? 'train_bpe' : 'train_chars')))].sort().join(', ')}


def main() -> None:
    root = Path(__file__).resolve().parent
${lines.join('\n\n')}


if __name__ == "__main__":
    main()
`,
    );
    steps.push({ name: 'tokenizers', out: 'tokenizers', hash: combined(trained), mode: 'main', command: 'python train_tokenizers.py' });
  }
}

/** The afinn() judge's lexicon as the local runtime reads it (npm `sentiment`: AFINN-165 labels, emoji, negators). */
export function afinnLexicon(generated: string): string {
  const req = createRequire(import.meta.url);
  const labels = { ...req('sentiment/languages/en/labels.json'), ...req('sentiment/build/emoji.json') };
  return JSON.stringify({ generated, source: 'npm sentiment 5.0.2 (AFINN-165 and Emoji Sentiment Ranking)', labels, negators: req('sentiment/languages/en/negators.json') }) + '\n';
}

/** The vader() judge's lexicon as the local runtime reads it: npm `vader-sentiment` 1.1.3's src/vader_lexicon.js
 * (the object its bundle is built from), for rlhf_export/judges.py's port of that package. */
export function vaderLexicon(generated: string): string {
  const req = createRequire(import.meta.url);
  const file = resolve(dirname(req.resolve('vader-sentiment/package.json')), 'src/vader_lexicon.js');
  const text = readFileSync(file, 'utf8');
  const start = text.indexOf('export const lexicon =');
  if (start < 0) throw new Error(`${file}: no 'export const lexicon =' (vader-sentiment changed its layout)`);
  const lexicon = runInNewContext(`(${text.slice(start + 'export const lexicon ='.length).trim().replace(/;\s*$/, '')})`) as Record<string, number>;
  const version = (req('vader-sentiment/package.json') as { version: string }).version;
  return JSON.stringify({ generated, source: `npm vader-sentiment ${version} (Apache-2.0; VADER lexicon, Hutto & Gilbert 2014)`, lexicon }) + '\n';
}

/** One hash for a step that materialises several nodes. */
function combined(nodes: PlanNode[]): string {
  return createHash('sha256')
    .update(nodes.map((n) => n.hash).join(','))
    .digest('hex')
    .slice(0, 16);
}

/** `fields { ... }` without the entries that map a field to itself. */
function nonDefaultFields(f: ResolvedParams | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(f ?? {})) if (typeof v === 'string' && v !== k) out[k] = v;
  return out;
}

export function shellWord(s: string): string {
  return /^[A-Za-z0-9_./@:-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

// ---- run.sh, accelerate.yaml, requirements.txt, README.md ------------------------------------------

/** One GPU (or the CPU), data parallel: nothing for accelerate launch to spread, so training stages run as plain `python`. */
export function oneProcess(c: ClusterOptions): boolean {
  return c.nodes * c.gpus === 1 && c.strategy === 'ddp';
}

export function runSh(header: string, steps: Step[], c: ClusterOptions): string {
  const multi = c.nodes > 1;
  const single = oneProcess(c);
  return `#!/usr/bin/env bash
${header}
#
# Runs every step in the plan's dependency order. When a step succeeds, its output folder gets a
# .done file holding the step's plan hash; a step whose .done matches is skipped, so an interrupted
# run resumes where it stopped (training stages also resume from their last checkpoint) and a
# step whose parameters or inputs changed in the spec runs again.
#
# Training stages run ${single ? 'as one process (1 GPU, or the CPU; accelerate.yaml is used with accelerate launch when ACCELERATE_CONFIG_FILE names it)' : `under \`accelerate launch\` with accelerate.yaml (or $ACCELERATE_CONFIG_FILE) (${c.nodes} node${c.nodes > 1 ? 's' : ''} × ${c.gpus} GPU${c.gpus > 1 ? 's' : ''}, ${c.strategy})`}.
# Data preparation and the sampling stages (judge, generate, eval) run as one process${multi ? ' on the main node' : ''}.${multi ? `
# Multi-node: run this script on every node with MACHINE_RANK (0 on the main node),
# MAIN_PROCESS_IP and MAIN_PROCESS_PORT set; data/, tokenizers/ and outputs/ must be on a
# shared filesystem. Other nodes wait for the main node's single-process steps.` : ''}
set -euo pipefail
cd "$(dirname "$0")"
export PYTHONPATH="$PWD\${PYTHONPATH:+:$PYTHONPATH}"
${c.deterministic ? `# --deterministic: deterministic torch algorithms and Transformers' full_determinism (rlhf_export/common.py
# deterministic()); cuBLAS needs a fixed workspace for deterministic matrix products on GPUs.
export RLHF_DETERMINISTIC=1
export CUBLAS_WORKSPACE_CONFIG=\${CUBLAS_WORKSPACE_CONFIG:-:4096:8}
` : ''}
${single ? `# One process: training stages run as plain \`python\` (no \`accelerate launch\` start-up); with
# ACCELERATE_CONFIG_FILE set they run under \`accelerate launch\` with that configuration instead.
if [ -n "\${ACCELERATE_CONFIG_FILE:-}" ]; then
  LAUNCH=(accelerate launch --config_file "$ACCELERATE_CONFIG_FILE")
else
  LAUNCH=(python)
fi` : `LAUNCH=(accelerate launch --config_file "\${ACCELERATE_CONFIG_FILE:-accelerate.yaml}"${multi ? ' --machine_rank "${MACHINE_RANK:?set MACHINE_RANK}" --main_process_ip "${MAIN_PROCESS_IP:?set MAIN_PROCESS_IP}" --main_process_port "${MAIN_PROCESS_PORT:-29500}"' : ''})`}

# step NAME OUTPUT_FOLDER PLAN_HASH all|main COMMAND...
step() {
  local name=$1 out=$2 hash=$3 mode=$4
  shift 4
  if [ -f "$out/.done" ] && [ "$(cat "$out/.done")" = "$hash" ]; then
    echo "== $name: finished, skipping ($out)"
    return
  fi
  if [ "$mode" = main ] && [ "\${MACHINE_RANK:-0}" != 0 ]; then
    echo "== $name: waiting for the main node"
    until [ -f "$out/.done" ] && [ "$(cat "$out/.done")" = "$hash" ]; do sleep 10; done
    return
  fi
  echo "== $name"
  rm -f "$out/.done"
  local t0=\${EPOCHREALTIME:-$SECONDS}
  "$@"
  local t1=\${EPOCHREALTIME:-$SECONDS}
  # the step's wall time (start-up included; a training stage's own loop time is train_runtime in its metrics.jsonl)
  echo "== $name: $(awk -v a="\${t0/,/.}" -v b="\${t1/,/.}" 'BEGIN { printf "%.1f", b - a }') s"
  if [ "$mode" = main ] || [ "\${MACHINE_RANK:-0}" = 0 ]; then
    mkdir -p "$out"
    echo "$hash" >"$out/.done"
  fi
}

${steps.map((s) => `step ${s.name} ${s.out} ${s.hash} ${s.mode} ${s.command}`).join('\n')}

echo "done: results in outputs/"
`;
}

export function accelerateYaml(header: string, c: ClusterOptions): string {
  const processes = c.gpus * c.nodes;
  const lines = [header, 'compute_environment: LOCAL_MACHINE', 'debug: false'];
  if (c.strategy === 'zero2' || c.strategy === 'zero3') {
    const stage = c.strategy === 'zero2' ? 2 : 3;
    lines.push('distributed_type: DEEPSPEED', 'deepspeed_config:', '  deepspeed_multinode_launcher: standard', '  offload_optimizer_device: none', '  offload_param_device: none');
    if (stage === 3) lines.push('  zero3_init_flag: true', '  zero3_save_16bit_model: true');
    lines.push(`  zero_stage: ${stage}`);
  } else if (c.strategy === 'fsdp') {
    lines.push(
      'distributed_type: FSDP',
      'fsdp_config:',
      '  fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP',
      '  fsdp_backward_prefetch: BACKWARD_PRE',
      '  fsdp_cpu_ram_efficient_loading: true',
      '  fsdp_forward_prefetch: false',
      '  fsdp_offload_params: false',
      '  fsdp_sharding_strategy: FULL_SHARD',
      '  fsdp_state_dict_type: FULL_STATE_DICT',
      '  fsdp_sync_module_states: true',
      '  fsdp_use_orig_params: true',
    );
  } else {
    lines.push(`distributed_type: ${processes > 1 ? 'MULTI_GPU' : "'NO'"}`);  // quoted: YAML reads a bare NO as false
  }
  lines.push(
    'downcast_bf16: \'no\'',
    'machine_rank: 0',
    'main_training_function: main',
    // auto: the stage scripts decide (common.mixed_precision()); Transformers' Trainer and rlhf_export's PPO pass it to Accelerate.
    `mixed_precision: ${c.mixed_precision === 'no' || c.mixed_precision === 'auto' ? "'no'" : c.mixed_precision}`,
    `num_machines: ${c.nodes}`,
    `num_processes: ${processes}`,
    'rdzv_backend: static',
    'same_network: true',
    'use_cpu: false',
    '',
  );
  return lines.join('\n');
}

export function requirements(header: string, plan: Plan, c: ClusterOptions): string {
  const judges = new Set(plan.nodes.filter((n) => n.category === 'judge').map((n) => n.kind));
  const lines = [
    header,
    `torch==${PINNED.torch}`,
    `transformers==${PINNED.transformers}`,
    `tokenizers==${PINNED.tokenizers}`,
    `trl==${PINNED.trl}`,
    `peft==${PINNED.peft}`,
    `accelerate==${PINNED.accelerate}`,
    `datasets==${PINNED.datasets}`,
    `safetensors==${PINNED.safetensors}`,
  ];
  if (c.strategy === 'zero2' || c.strategy === 'zero3') lines.push('deepspeed  # strategy zero2 / zero3 (not pinned: not installed or tested by rlhfc\'s CI)');
  if (judges.has('fn')) lines.push('# fn() judges run the spec\'s TypeScript with Node.js >= 20 and tsx: `npm install tsx` in this folder (not a pip package)');
  return lines.join('\n') + '\n';
}

export function projectReadme(plan: Plan, hash: string, regenerate: string, c: ClusterOptions, steps: Step[], ds: Diagnostic[], smoke: boolean): string {
  const stages = plan.nodes.filter((n) => n.category === 'stage');
  const approx = ds.filter((d) => d.severity === 'warning').map((d) => `- ${d.message}`);
  return `<!-- Generated by rlhfc ${plan.compiler} from ${plan.spec} (plan ${hash}). Regenerate instead of editing: ${regenerate} -->
# ${basename(plan.spec)} on TRL + Accelerate

This project runs the pipeline of \`${plan.spec}\` with Hugging Face TRL ${PINNED.trl} and Transformers ${PINNED.transformers}
on ${c.nodes} node${c.nodes > 1 ? 's' : ''} × ${c.gpus} GPU${c.gpus > 1 ? 's' : ''} (${c.strategy}, ${c.mixed_precision === 'auto' ? 'mixed precision decided when it runs' : `${c.mixed_precision} mixed precision`}).${c.mixed_precision === 'auto' ? `\nMixed precision is \`auto\`: each stage trains in bf16 on a GPU that supports it, else in fp32 (a CPU, an older
GPU), so the project runs as it is on a laptop too. \`RLHF_MIXED_PRECISION=no|fp16|bf16 ./run.sh\` fixes it for one run;
\`rlhfc compile ... --mixed-precision bf16\` (or \`cluster { mixed_precision: bf16 }\`) writes it into the project.` : ''}
${smoke ? `\n**Smoke run** (\`--smoke\`): at most ${SMOKE.records} records per dataset, ${SMOKE.steps} steps per training stage, batches of at most ${SMOKE.batch}, ${SMOKE.newTokens} new tokens per response, judges break ties at random. It proves that every step runs; it does not train anything useful.\n` : ''}
\`\`\`sh
pip install -r requirements.txt
./run.sh
\`\`\`

| step | result | what runs |
|---|---|---|
${steps.map((s) => `| ${s.name} | \`${s.out}/\` | \`${s.command.replace('"${LAUNCH[@]}"', oneProcess(c) ? 'python' : 'accelerate launch')}\` |`).join('\n')}

Stages (in dependency order): ${stages.map((n) => `${n.name} (${n.kind})`).join(', ')}.
Each stage script states its trainer and every configuration value, each commented with the rlhfc
parameter it comes from. A finished step's folder holds a \`.done\` file with its plan hash;
\`run.sh\` skips those, so it resumes after an interruption and reruns what the spec changed, and prints
each step's wall time. Tokenized pretraining blocks are cached in \`cache/\` (\`$RLHF_CACHE\`), keyed by
the records, the tokenizer and the block size; deleting it is always safe.
${approx.length ? `\nNot exported exactly (rlhfc warning RLHF5001):\n\n${approx.join('\n')}\n` : ''}`;
}

