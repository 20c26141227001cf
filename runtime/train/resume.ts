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
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeDirAtomic } from '../hf-checkpoint.ts';
import type { GPT } from '../model/gpt.ts';
import type { AdamW } from '../optim.ts';
import type { RngState } from '../rng.ts';
import { readSafetensors, writeSafetensors } from '../safetensors.ts';
import { CHECKPOINT_FORMAT, latestCheckpoint } from '../store.ts';

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
}

export interface CheckpointOptions {
  /** <store>/checkpoints/<hash>; undefined: checkpoints off (tests, `generate`). */
  dir?: string;
  /** Node hash, recorded to refuse a checkpoint of another node. */
  node: string;
  /** Save every N optimizer steps; 0: every AUTO_CHECKPOINT_SECONDS of training. */
  every: number;
  model: GPT;
  /** The optimizers of the stage (read when saving/loading: they may be created after this). */
  optimizers: () => AdamW[];
  /** The stage's metrics.jsonl (copied into the checkpoint, and back on resume). */
  metricsPath: string;
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
    const trainable = m.trainable();
    for (const [name, v] of trainable) tensors.push([`w:${name}`, { shape: [...v.shape], data: v.dataSync() as Float32Array }]);
    const optimizers = this.o.optimizers().map((opt, i) => {
      const s = opt.exportStateBinary();
      for (const [n, t] of Object.entries(s.m)) tensors.push([`opt${i}.m:${n}`, t as { shape: number[]; data: Float32Array }]);
      for (const [n, t] of Object.entries(s.v)) tensors.push([`opt${i}.v:${n}`, t as { shape: number[]; data: Float32Array }]);
      return { step: s.step, names: Object.keys(s.m) };
    });
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
      // state.json last: a folder is a checkpoint only when it holds it.
      await writeFile(join(tmp, 'state.json'), JSON.stringify(file, nanToNull, 1) + '\n');
    });
    this.lastSave = performance.now();
  }

  /**
   * Restore weights, optimizer moments, RNG streams and metrics from the latest checkpoint, if any.
   * Returns the saved loop state, or undefined when there is nothing to resume.
   */
  async load(): Promise<TrainState | undefined> {
    const dir = this.o.dir && latestCheckpoint(this.o.dir);
    if (!dir) return undefined;
    const file = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as StateFile;
    if (file.format !== CHECKPOINT_FORMAT || file.node !== this.o.node) return undefined;
    const st = await readSafetensors(join(dir, 'state.safetensors'));
    const get = (key: string) => {
      const t = st.tensors.get(key);
      if (!t) throw new Error(`checkpoint ${dir} lacks tensor ${key}`);
      return t;
    };
    const m = this.o.model;
    const trainable = m.trainable();
    const names = [...trainable.keys()];
    if (names.join('\n') !== file.weights.join('\n')) {
      throw new Error(`checkpoint ${dir} does not match this stage's trainable weights; delete it to start over`);
    }
    for (const [name, v] of trainable) {
      const t = get(`w:${name}`);
      tf.tidy(() => v.assign(tf.tensor(t.data as Float32Array, t.shape, 'float32')));
    }
    const opts = this.o.optimizers();
    if (opts.length !== file.optimizers.length) throw new Error(`checkpoint ${dir} has ${file.optimizers.length} optimizer states, the stage has ${opts.length}`);
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

/** A stage stopped by SIGINT/SIGTERM at a step boundary, after saving a checkpoint. */
export class Interrupted extends Error {
  constructor(
    readonly step: number,
    readonly total: number,
    readonly checkpoint: string | undefined,
  ) {
    super(`interrupted at step ${step}/${total}`);
  }
}
