// The Python side of the interop tests: the virtualenv with the pinned stack (requirements.txt).
// Found at $RLHFC_PYTHON or <repo>/.venv/bin/python. Without it the interop suites skip with one
// visible line; with RLHFC_REQUIRE_INTEROP=1 (CI: .ci/run creates the venv) they fail instead.
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'vitest';

export const ROOT = resolve(import.meta.dirname, '../..');
const candidate = process.env.RLHFC_PYTHON || resolve(ROOT, '.venv/bin/python');
const required = process.env.RLHFC_REQUIRE_INTEROP === '1';

function probe(): string | undefined {
  if (!existsSync(candidate)) return `no Python at ${candidate}`;
  const r = spawnSync(candidate, ['-c', 'import torch, transformers, trl, peft, accelerate, datasets'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : `${candidate} cannot import the stack: ${r.stderr.trim().split('\n').pop()}`;
}

/** Why the interop tests cannot run here (undefined: they can). */
export const missing = probe();
export const PYTHON = candidate;
let told = false;

/** One skip line per test run, not one per test file: the first worker of this vitest run to claim it tells. */
function firstToTell(): boolean {
  try {
    writeFileSync(join(tmpdir(), `rlhfc-interop-skipped-${process.ppid}`), '', { flag: 'wx' });
    return true;
  } catch {
    return false;
  }
}

/** `describe` for an interop suite: skipped (one line on stderr) without the venv, failing with RLHFC_REQUIRE_INTEROP=1. */
export function describeInterop(name: string, body: () => void): void {
  if (!missing) {
    describe(name, body);
    return;
  }
  if (required) {
    describe(name, () => {
      it('has the Python virtualenv (RLHFC_REQUIRE_INTEROP=1)', () => {
        throw new Error(`interop tests required but ${missing}; create it with: python3 -m venv .venv && .venv/bin/pip install -r requirements.txt`);
      });
    });
    return;
  }
  if (!told && firstToTell()) {
    told = true;
    process.stderr.write(`interop tests skipped: ${missing} (python3 -m venv .venv && .venv/bin/pip install -r requirements.txt, or set RLHFC_PYTHON)\n`);
  }
  describe.skip(name, body);
}

/**
 * `describe` for the smoke runs (every example and the coverage spec exported with --smoke and run
 * with run.sh, 1 and 2 processes): about 6 minutes on an idle 2-core machine, so they run only with
 * RLHFC_INTEROP_SMOKE=1 (`npm run test:smoke`, which .ci/run calls), not in `npm test`; otherwise
 * one line says so.
 */
export function describeSmoke(name: string, body: () => void): void {
  if (process.env.RLHFC_INTEROP_SMOKE === '1') {
    describeInterop(name, body);
    return;
  }
  process.stderr.write(`${name}: skipped (minutes; run with: npm run test:smoke)\n`);
  describe.skip(name, body);
}

/** Environment for the venv's tools (its bin first on PATH, quiet libraries, offline). */
export function pyEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PATH: `${resolve(PYTHON, '..')}:${process.env.PATH}`,
    HF_HUB_OFFLINE: '1',
    HF_DATASETS_OFFLINE: '1',
    TRANSFORMERS_OFFLINE: '1',
    TOKENIZERS_PARALLELISM: 'false',
    PYTHONDONTWRITEBYTECODE: '1',
    OMP_NUM_THREADS: '1',
    ...extra,
  };
}

/** Run Python code (stdin) with the venv; returns stdout. Throws with stderr on failure. */
export function py(code: string, opts: { cwd?: string; args?: string[]; env?: Record<string, string>; timeout?: number } = {}): string {
  const r: SpawnSyncReturns<string> = spawnSync(PYTHON, ['-', ...(opts.args ?? [])], { input: code, cwd: opts.cwd ?? ROOT, encoding: 'utf8', env: pyEnv(opts.env), maxBuffer: 1 << 28, timeout: opts.timeout ?? 600_000 });
  if (r.status !== 0) throw new Error(`python failed (${r.status ?? r.signal}):\n${r.stderr.slice(-4000)}`);
  return r.stdout;
}

/** The last line of stdout that is JSON. */
export function pyJson<T = unknown>(code: string, opts: Parameters<typeof py>[1] = {}): T {
  const lines = py(code, opts).trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as T;
}

export { execFileSync };

/**
 * Python that defines, for the interop oracles: `texts` (six short review sentences), `tk` (a byte-level BPE
 * of 300 tokens trained on them, as a transformers tokenizer) and `cfg` (a 1-layer width-32 GPT2Config without
 * dropout, for that tokenizer). Brings its own imports.
 */
export const TINY_BPE_GPT2 = `from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers
from transformers import PreTrainedTokenizerFast
texts = ["the service was great and friendly", "the food was cold and bland", "I would come back again", "never again, awful", "a lovely quiet place", "too loud and too slow"]
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
tk = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
cfg = dict(vocab_size=len(tk), n_positions=64, n_embd=32, n_layer=1, n_head=2, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, pad_token_id=tk.pad_token_id, eos_token_id=tk.eos_token_id, bos_token_id=tk.eos_token_id)
`;
