// AdamW (decoupled weight decay, PyTorch's formula), global-norm clipping, gradient accumulation and
// learning-rate schedules. Variables are addressed by name so decay rules and saved state are readable.

import * as tf from '@tensorflow/tfjs';
import { onDevice, readScalars } from './tensor-backend.ts';
import { adamWInPlace } from './webgpu/adamw.ts';
import { fusedOps } from './native/fused.ts';

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Which variables get weight decay. Default: `defaultDecay` (not biases or normalisation weights). */
  decay?: (name: string) => boolean;
}

/**
 * Names that get no weight decay, as Transformers' `Trainer.get_decay_parameter_names` decides (and the
 * export's own PPO trainer, which decays every matrix): biases and normalisation weights. Transformers
 * matches these patterns on the lower-cased name and excludes `nn.LayerNorm` modules by type, which for
 * GPT-2 are `ln_1`, `ln_2` and `ln_f`. Embeddings (wte, wpe, embed_tokens) and heads do decay.
 */
const NO_DECAY = [/bias/, /layernorm/, /rmsnorm/, /(?:^|\.)norm(?:$|\.)/, /_norm(?:$|\.)/, /(?:^|\.)ln_(?:\d+|f)\./];

/** Default decay rule (Transformers' Trainer): every weight but biases and LayerNorm/RMSNorm weights. */
export function defaultDecay(name: string): boolean {
  const n = name.toLowerCase();
  return !NO_DECAY.some((re) => re.test(n));
}

/** Optimizer state for resuming: step count and moments by variable name. */
export interface AdamWState {
  step: number;
  m: Record<string, { shape: number[]; data: number[] | Float32Array }>;
  v: Record<string, { shape: number[]; data: number[] | Float32Array }>;
}

export class AdamW {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly decay: (name: string) => boolean;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  step = 0;

  constructor(readonly params: Map<string, tf.Variable>, o: AdamWOptions) {
    this.lr = o.lr;
    this.beta1 = o.beta1 ?? 0.9;
    this.beta2 = o.beta2 ?? 0.999;
    this.eps = o.eps ?? 1e-8;
    this.weightDecay = o.weightDecay ?? 0;
    this.decay = o.decay ?? defaultDecay;
  }

  /** Does this variable get weight decay? */
  decays(name: string): boolean {
    return this.weightDecay > 0 && this.decay(name);
  }

  /** One update with grads by name (missing grads: variable unchanged). Uses `lr` unless given. */
  apply(grads: Map<string, tf.Tensor> | tf.NamedTensorMap, lr = this.lr): void {
    const g = grads instanceof Map ? grads : new Map(Object.entries(grads));
    this.step++;
    const t = this.step;
    const bc1 = 1 - this.beta1 ** t;
    const bc2 = 1 - this.beta2 ** t;
    const stepSize = lr / bc1;
    for (const [name, p] of this.params) {
      const grad = g.get(name);
      if (!grad) continue;
      if (!this.m.has(name)) {
        this.m.set(name, tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
        this.v.set(name, tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
      }
      const m = this.m.get(name)!;
      const v = this.v.get(name)!;
      const f = fusedOps(); // native backend: the whole update as one kernel
      const decay = this.decays(name) ? 1 - lr * this.weightDecay : 1;
      const scalars = { beta1: this.beta1, beta2: this.beta2, stepSize, bc2sqrt: Math.sqrt(bc2), eps: this.eps, decay };
      if (f) {
        f.adamW(p, m, v, grad, scalars);
        continue;
      }
      if (onDevice() && adamWInPlace(p, m, v, grad, scalars)) continue; // webgpu: one WGSL kernel, in place
      tf.tidy(() => {
        const mNew = tf.add(tf.mul(m, this.beta1), tf.mul(grad, 1 - this.beta1));
        const vNew = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(grad), 1 - this.beta2));
        m.assign(mNew);
        v.assign(vNew);
        const denom = tf.add(tf.div(tf.sqrt(vNew), Math.sqrt(bc2)), this.eps);
        let next: tf.Tensor = p;
        if (this.decays(name)) next = tf.mul(next, 1 - lr * this.weightDecay);
        p.assign(tf.sub(next, tf.mul(tf.div(mNew, denom), stepSize)));
      });
    }
  }

  async exportState(): Promise<AdamWState> {
    const s = await this.exportStateBinary();
    const plain = (src: AdamWState['m']) => Object.fromEntries(Object.entries(src).map(([n, t]) => [n, { shape: t.shape, data: Array.from(t.data) }]));
    return { step: s.step, m: plain(s.m), v: plain(s.v) };
  }

  /** The same state with the moments as Float32Arrays (for binary checkpoints); read asynchronously. */
  async exportStateBinary(): Promise<AdamWState> {
    const dump = async (src: Map<string, tf.Variable>) => {
      const entries = [...src];
      const data = await Promise.all(entries.map(([, t]) => t.data()));
      return Object.fromEntries(entries.map(([n, t], i) => [n, { shape: [...t.shape], data: data[i] as Float32Array }]));
    };
    return { step: this.step, m: await dump(this.m), v: await dump(this.v) };
  }

  importState(s: AdamWState): void {
    this.disposeMoments();
    this.step = s.step;
    for (const [dst, src] of [[this.m, s.m], [this.v, s.v]] as const) {
      for (const [n, t] of Object.entries(src)) {
        const p = this.params.get(n);
        if (!p) throw new Error(`optimizer state names unknown variable ${n}`);
        if (p.shape.join() !== t.shape.join()) throw new Error(`optimizer state for ${n}: expected [${p.shape}], got [${t.shape}]`);
        dst.set(n, tf.tidy(() => tf.variable(tf.tensor(t.data, t.shape, 'float32'), false)));
      }
    }
  }

  private disposeMoments(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }

  dispose(): void {
    this.disposeMoments();
  }
}

/** Global L2 norm of the grads (a scalar tensor; the caller frees it). */
function globalNormTensor(grads: Map<string, tf.Tensor>): tf.Scalar {
  if (grads.size === 0) return tf.scalar(0);
  return tf.tidy(() => tf.sqrt(tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g))))) as tf.Scalar);
}

/**
 * Scale grads in place (new tensors replace and free the old) so their global norm is at most maxNorm.
 * Resolves to the norm before clipping. On a CPU backend the norm is read at once and the grads are
 * scaled only when above maxNorm; on a device backend (webgpu) the comparison and the scale are done
 * on the device (a factor of exactly 1 below maxNorm) and the norm is read when the promise is
 * awaited, so that the caller can queue its update first (no read in the middle of the step).
 */
export function clipByGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number): Promise<number> {
  const normT = globalNormTensor(grads);
  const clips = Number.isFinite(maxNorm) && maxNorm > 0;
  if (onDevice()) {
    if (clips) {
      const s = tf.tidy(() => tf.where(tf.greater(normT, maxNorm), tf.div(maxNorm, tf.add(normT, 1e-6)), tf.onesLike(normT)));
      for (const [n, g] of grads) {
        grads.set(n, tf.mul(g, s));
        g.dispose();
      }
      s.dispose();
    }
    return readScalars({ norm: normT }).then((r) => r.norm);
  }
  const norm = normT.dataSync()[0];
  normT.dispose();
  if (clips && norm > maxNorm) {
    const s = maxNorm / (norm + 1e-6);
    for (const [n, g] of grads) {
      grads.set(n, tf.mul(g, s));
      g.dispose();
    }
  }
  return Promise.resolve(norm);
}

/**
 * Loss and grads of `lossFn` w.r.t. `params`, summed over micro-batches (each micro-batch loss is
 * weighted by `weights[i]`, default 1/n so the result is the mean). The caller disposes the grads.
 */
export function accumulateGrads(
  params: Map<string, tf.Variable>,
  micro: number,
  lossFn: (i: number) => tf.Scalar,
  weights?: number[],
): { loss: Promise<number>; grads: Map<string, tf.Tensor> } {
  const names = [...params.keys()];
  const vars = names.map((n) => params.get(n)!);
  const sum = new Map<string, tf.Tensor>();
  let loss: tf.Scalar | undefined;
  for (let i = 0; i < micro; i++) {
    const w = weights?.[i] ?? 1 / micro;
    const { value, grads } = tf.variableGrads(() => tf.mul(lossFn(i), w) as tf.Scalar, vars);
    if (loss) {
      const prev = loss;
      loss = tf.add(prev, value) as tf.Scalar;
      prev.dispose();
      value.dispose();
    } else loss = value;
    for (let j = 0; j < names.length; j++) {
      const g = grads[vars[j].name];
      if (!g) continue;
      const prev = sum.get(names[j]);
      sum.set(names[j], prev ? tf.add(prev, g) : g);
      if (prev) {
        prev.dispose();
        g.dispose();
      }
    }
  }
  // The loss is read asynchronously (on webgpu: once the step's work is done; awaited by the caller
  // after queueing its update, or never — then it is only freed).
  const read = readScalars({ loss: loss ?? tf.scalar(0) }).then((r) => r.loss);
  read.catch(() => undefined);
  return { loss: read, grads: sum };
}

export interface ScheduleOptions {
  kind: 'constant' | 'linear' | 'cosine';
  lr: number;
  warmupSteps?: number;
  totalSteps: number;
  /** Final lr as a fraction of lr (linear/cosine), default 0. */
  minLrRatio?: number;
}

/**
 * Learning rate at `step` (0-based), as Transformers' schedulers (`get_scheduler`) give it: a linear
 * warm-up lr·step/warmupSteps (so the first step has rate 0: AdamW's moments take its gradient, the
 * weights stay), then constant, or a linear / cosine decay from lr at step warmupSteps to lr·minLrRatio
 * at totalSteps (and after).
 */
export function learningRate(step: number, o: ScheduleOptions): number {
  const warm = o.warmupSteps ?? 0;
  if (step < warm) return (o.lr * step) / warm;
  if (o.kind === 'constant') return o.lr;
  const min = o.lr * (o.minLrRatio ?? 0);
  const span = Math.max(1, o.totalSteps - warm);
  const p = Math.min(1, (step - warm) / span);
  const f = o.kind === 'linear' ? 1 - p : 0.5 * (1 + Math.cos(Math.PI * p));
  return min + (o.lr - min) * f;
}
