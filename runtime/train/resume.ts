// Resumable checkpoints for long stages.
//
// A checkpoint holds everything a stage needs to continue exactly where it stopped, so that a run
// interrupted (Ctrl-C, SIGTERM, a kill, a crash) and resumed ends with the same weights as one
// that never stopped (same seed, same backend):
//   state.safetensors  trainable weights (w:<name>) and AdamW moments (opt<i>.m:<name>, opt<i>.v:<name>)
//   state.json         step, AdamW step counts, RNG streams (dropout), the stage's own loop state
//                      (loss window, last evaluation, PPO's KL controller and score moments)
//   metrics.jsonl      the metrics written up to that step
// The data position is not stored: batch order is a pure function of (seed, stage, epoch), so a
// resumed loop replays the batch iterator to the checkpoint's step without computing anything.
//
// Checkpoints live in <store>/checkpoints/<node hash>/ckpt, written atomically (temp folder, then
// rename), and are removed by the runner once the stage's outputs are committed.

import * as tf from '@tensorflow/tfjs';
import { copyFileSync, existsSync, renameSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeDirAtomic } from '../hf-checkpoint.ts';
import type { CausalLM } from '../model/causal-lm.ts';
import type { AdamW } from '../optim.ts';
import type { RngState } from '../rng.ts';
import { readSafetensors, writeSafetensors } from '../safetensors.ts';
import { CHECKPOINT_FORMAT, latestCheckpoint, sha256File } from '../store.ts';
import { UserError, diag } from '../../core/diagnostics.ts';
import { readJsonSync } from '../validate/files.ts';
import { CheckpointStateSchema } from '../validate/schemas.ts';

/** Without `checkpoint_every`, a checkpoint is written when this much training time has passed. */
export const AUTO_CHECKPOINT_SECONDS = 120;

/** What a loop saves besides weights and optimizer state; must be JSON (NaN is kept as null). */
export interface TrainState {
  /** Optimizer steps done. */
  step: number;
  extra: Record<string, unknown>;
}

interface StateFile {
  format: typeof CHECKPOINT_FORMAT;
  node: string;
  step: number;
  weights: string[];
  optimizers: { step: number; names: string[] }[];
  rng: { model: RngState; lora: RngState | null };
  extra: Record<string, unknown>;
  savedAt: string;
  /** sha256 and size of state.safetensors and metrics.jsonl, verified before resuming. */
  files?: Record<string, { bytes: number; sha256: string }>;
}

export interface CheckpointOptions {
  /** <store>/checkpoints/<hash>; undefined: checkpoints off (tests, `generate`). */
  dir?: string;
  /** Node hash, recorded to refuse a checkpoint of another node. */
  node: string;
  /** Save every N optimizer steps; 0: every AUTO_CHECKPOINT_SECONDS of training. */
  every: number;
  model: CausalLM;
  /** The optimizers of the stage (read when saving/loading: they may be created after this). */
  optimizers: () => AdamW[];
  /** The stage's metrics.jsonl (copied into the checkpoint, and back on resume). */
  metricsPath: string;
  /** Where "damaged checkpoint set aside" goes (default: stderr). */
  warn?: (line: string) => void;
}

const nanToNull = (_k: string, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v);

export class Checkpoints {
  private lastSave = performance.now();

  constructor(private readonly o: CheckpointOptions) {}

  get enabled(): boolean {
    return Boolean(this.o.dir);
  }

  /** Folder of the current checkpoint (or undefined when off). */
  get path(): string | undefined {
    return this.o.dir ? join(this.o.dir, 'ckpt') : undefined;
  }

  /**
   * What a checkpoint holds as weights: the model's trainable variables, then any other variable an
   * optimizer trains beside them (ODIN's length head in a reward stage), which resumes too.
   */
  private weights(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>(this.o.model.trainable());
    for (const opt of this.o.optimizers()) for (const [n, v] of opt.params) if (!out.has(n)) out.set(n, v);
    return out;
  }

  /** Save after `step` of `total` steps? Never after the last one: the stage commits its outputs then. */
  due(step: number, total: number): boolean {
    if (!this.o.dir || step >= total) return false;
    if (this.o.every > 0) return step % this.o.every === 0;
    return (performance.now() - this.lastSave) / 1000 >= AUTO_CHECKPOINT_SECONDS;
  }

  /**
   * A stop requested at a step boundary: save (unless the state at `state.step` is already the
   * checkpoint the loop resumed from) and return the Interrupted error for the caller to throw.
   */
  async interrupted(state: TrainState, total: number, resumedFrom: number): Promise<Interrupted> {
    if (this.enabled && state.step > resumedFrom) await this.save(state);
    return new Interrupted(state.step, total, this.enabled && state.step > 0 ? this.path : undefined);
  }

  async save(state: TrainState): Promise<void> {
    const target = this.path;
    if (!target) return;
    const m = this.o.model;
    const tensors: [string, { shape: number[]; data: Float32Array }][] = [];
    const trainable = this.weights();
    for (const [name, v] of trainable) tensors.push([`w:${name}`, { shape: [...v.shape], data: (await v.data()) as Float32Array }]);
    const optimizers = [];
    for (const [i, opt] of this.o.optimizers().entries()) {
      const s = await opt.exportStateBinary();
      for (const [n, t] of Object.entries(s.m)) tensors.push([`opt${i}.m:${n}`, t as { shape: number[]; data: Float32Array }]);
      for (const [n, t] of Object.entries(s.v)) tensors.push([`opt${i}.v:${n}`, t as { shape: number[]; data: Float32Array }]);
      optimizers.push({ step: s.step, names: Object.keys(s.m) });
    }
    const file: StateFile = {
      format: CHECKPOINT_FORMAT,
      node: this.o.node,
      step: state.step,
      weights: [...trainable.keys()],
      optimizers,
      rng: { model: m.rng.state(), lora: m.lora?.rng.state() ?? null },
      extra: state.extra,
      savedAt: new Date().toISOString(),
    };
    await writeDirAtomic(target, async (tmp) => {
      await writeSafetensors(join(tmp, 'state.safetensors'), tensors, { format: CHECKPOINT_FORMAT });
      if (existsSync(this.o.metricsPath)) copyFileSync(this.o.metricsPath, join(tmp, 'metrics.jsonl'));
      file.files = {};
      for (const f of ['state.safetensors', 'metrics.jsonl']) {
        const p = join(tmp, f);
        if (existsSync(p)) file.files[f] = { bytes: statSync(p).size, sha256: sha256File(p) };
      }
      // state.json last: a folder is a checkpoint only when it holds it.
      await writeFile(join(tmp, 'state.json'), JSON.stringify(file, nanToNull, 1) + '\n');
    });
    this.lastSave = performance.now();
  }

  /**
   * Restore weights, optimizer moments, RNG streams and metrics from the latest checkpoint, if any.
   * Returns the saved loop state, or undefined when there is nothing to resume.
   */
  async load(total?: number): Promise<TrainState | undefined> {
    const dir = this.o.dir && latestCheckpoint(this.o.dir);
    if (!dir) return undefined;
    // A damaged checkpoint (unreadable or invalid state.json, files that do not match their recorded
    // sha256, tensors that do not fit the stage, a step beyond the stage's length) is set aside with a
    // warning and the stage restarts from step 0: it never crashes the run, and is never resumed silently.
    let file: StateFile;
    let st: Awaited<ReturnType<typeof readSafetensors>>;
    try {
      file = readJsonSync(join(dir, 'state.json'), CheckpointStateSchema, { what: 'checkpoint state' }) as StateFile;
      if (file.node !== this.o.node) throw damaged(`it belongs to node ${file.node.slice(0, 12)}`);
      if (total !== undefined && file.step > total) throw damaged(`its step ${file.step} is beyond the stage's ${total} steps`);
      for (const [f, want] of Object.entries(file.files ?? {})) {
        const p = join(dir, f);
        if (!existsSync(p) || statSync(p).size !== want.bytes || sha256File(p) !== want.sha256) throw damaged(`${f} does not match the sha256 recorded when it was saved`);
      }
      st = await readSafetensors(join(dir, 'state.safetensors'));
      const names = [...this.weights().keys()];
      if (names.join('\n') !== file.weights.join('\n')) throw damaged("it does not match this stage's trainable weights");
      const need = [...names.map((n) => `w:${n}`), ...file.optimizers.flatMap((o, i) => o.names.flatMap((n) => [`opt${i}.m:${n}`, `opt${i}.v:${n}`]))];
      const lacking = need.find((k) => !st.tensors.has(k));
      if (lacking) throw damaged(`it lacks tensor ${lacking}`);
      const trainable = this.weights();
      const wrong = names.find((n) => st.tensors.get(`w:${n}`)!.shape.join(',') !== trainable.get(n)!.shape.join(','));
      if (wrong) throw damaged(`tensor w:${wrong} has the wrong shape`);
      if (this.o.optimizers().length !== file.optimizers.length) throw damaged(`it has ${file.optimizers.length} optimizer states, the stage has ${this.o.optimizers().length}`);
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      const aside = join(this.o.dir!, `damaged-${Date.now()}`);
      renameSync(dir, aside);
      const why = e.diagnostics[0].notes?.length ? `${e.diagnostics[0].message} (${e.diagnostics[0].notes[0]})` : e.diagnostics[0].message;
      (this.o.warn ?? ((l: string) => process.stderr.write(l + '\n')))(`warning: damaged checkpoint set aside as ${aside}; the stage restarts from step 0: ${why}`);
      return undefined;
    }
    const get = (key: string) => st.tensors.get(key)!;
    const m = this.o.model;
    for (const [name, v] of this.weights()) {
      const t = get(`w:${name}`);
      tf.tidy(() => v.assign(tf.tensor(t.data as Float32Array, t.shape, 'float32')));
    }
    const opts = this.o.optimizers();
    opts.forEach((opt, i) => {
      const f = file.optimizers[i];
      const moments = (which: 'm' | 'v') =>
        Object.fromEntries(f.names.map((n) => {
          const t = get(`opt${i}.${which}:${n}`);
          return [n, { shape: [...t.shape], data: t.data as Float32Array }];
        }));
      opt.importState({ step: f.step, m: moments('m'), v: moments('v') });
    });
    m.rng.restore(file.rng.model);
    if (file.rng.lora && m.lora) m.lora.rng.restore(file.rng.lora);
    const metrics = join(dir, 'metrics.jsonl');
    if (existsSync(metrics)) copyFileSync(metrics, this.o.metricsPath);
    this.lastSave = performance.now();
    return { step: file.step, extra: file.extra };
  }
}

const damaged = (why: string) => new UserError([diag('RLHF9003', why)]);

/** A stage stopped by SIGINT/SIGTERM at a step boundary, after saving a checkpoint. */
/**
 * Give the event loop one turn, so that a pending SIGINT/SIGTERM handler runs and aborts the run's
 * signal: training steps and sampling are synchronous work, during which no handler runs.
 */
export function letSignalsIn(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

export class Interrupted extends Error {
  constructor(
    readonly step: number,
    readonly total: number,
    readonly checkpoint: string | undefined,
  ) {
    super(`interrupted at step ${step}/${total}`);
  }
}
