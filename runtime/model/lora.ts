// LoRA adapters (PEFT layout) on a model's projections (GPT-2's Conv1D ones, or the nn.Linear ones of
// the Llama family). For a projection y = x·W + b (W [in,out]; nn.Linear stores Wᵀ [out,in]):
//   y' = y + (alpha / r) · dropout(x) · Aᵀ · Bᵀ,   A [r,in] (kaiming-uniform like PEFT), B [out,r] (zeros)
// so an adapter starts equal to the base model. Weights are kept in PEFT's layout so export is a rename.

import * as tf from '@tensorflow/tfjs';
import { UserError, diag } from '../../core/diagnostics.ts';
import { Rng } from '../rng.ts';
import { dropout, linearT, mm } from './ops.ts';
import { GPT2_LORA_MODULES, selects, unknownTargets, validTargets } from './lora-targets.ts';

/** A projection LoRA can target, as PEFT names it: a module's short name (`c_attn`, `q_proj`), or its full name in a block (`mlp.c_proj`), or `all-linear`. */
export type LoraTarget = string;
/** Full module names inside a block (`attn.c_attn`, `self_attn.q_proj`). */
export type LoraModule = string;
/** GPT-2's projections (`c_proj` as a target means both the attention and the MLP output projections, as in PEFT). */
export const LORA_MODULES: readonly LoraModule[] = GPT2_LORA_MODULES;
/** PEFT's prefix of a GPT-2 block's tensor names. */
export const GPT2_LORA_PREFIX = 'base_model.model.transformer.h.';

/** Where a family's adapters sit: its block modules, PEFT's name prefix, and the base weights' layout. */
export interface LoraLayout {
  modules: readonly LoraModule[];
  /** PEFT tensor names are `${prefix}${layer}.${module}.lora_A.weight`. */
  prefix: string;
  /** Base weights stored [in,out] (GPT-2 Conv1D) or [out,in] (nn.Linear). */
  weights: 'in_out' | 'out_in';
  /** The family (`gpt2`, `llama`, …), for the valid targets and error messages. */
  family: string;
}

export const GPT2_LORA: LoraLayout = { modules: LORA_MODULES, prefix: GPT2_LORA_PREFIX, weights: 'in_out', family: 'gpt2' };

export { selects, validTargets };

/** Refuse targets that select nothing in this family, listing the valid ones (a UserError). */
export function checkTargets(targets: readonly string[], layout: LoraLayout): void {
  const bad = unknownTargets(targets, layout.family);
  if (bad.length) {
    throw new UserError([
      diag('RLHF9002', `lora targets ${bad.map((t) => JSON.stringify(t)).join(', ')} ${bad.length === 1 ? 'is not a projection' : 'are not projections'} of a ${layout.family} model`, undefined, {
        notes: [`valid targets for ${layout.family}: ${validTargets(layout.family).join(', ')}`],
      }),
    ]);
  }
}

export interface LoraOptions {
  r: number;
  alpha: number;
  dropout?: number;
  /** Which projections get adapters (default ['c_attn']). */
  targets?: LoraTarget[];
  seed?: number;
  /** The model family's modules and names (default GPT-2's). */
  layout?: LoraLayout;
}

/** PEFT tensor name for an adapter matrix. */
export function peftName(layer: number, module: LoraModule, ab: 'A' | 'B', prefix = GPT2_LORA_PREFIX): string {
  return `${prefix}${layer}.${module}.lora_${ab}.weight`;
}

interface Adapter {
  A: tf.Variable; // [r, in]
  B: tf.Variable; // [out, r]
}

/** A set of LoRA adapters attached to a model's projections. */
export class Lora {
  readonly r: number;
  readonly alpha: number;
  readonly dropout: number;
  readonly targets: LoraTarget[];
  readonly layout: LoraLayout;
  /** Keyed by `${layer}.${module}`, e.g. `0.attn.c_attn`. */
  readonly adapters = new Map<string, Adapter>();
  /** When false the model computes the base (reference) outputs. */
  enabled = true;
  private merged = false;
  /** Dropout seeds; saved in training checkpoints. */
  readonly rng: Rng;

  /** `shapes(layer, module)` gives [in, out] of the base projection. */
  constructor(layers: number, shapes: (layer: number, module: LoraModule) => [number, number], o: LoraOptions) {
    if (!Number.isInteger(o.r) || o.r <= 0) throw new Error(`LoRA r must be a positive integer, got ${o.r}`);
    this.r = o.r;
    this.alpha = o.alpha;
    this.dropout = o.dropout ?? 0;
    this.targets = o.targets ?? ['c_attn'];
    this.layout = o.layout ?? GPT2_LORA;
    checkTargets(this.targets, this.layout);
    this.rng = new Rng(o.seed ?? 0);
    const name = (l: number, m: LoraModule, ab: 'A' | 'B') => peftName(l, m, ab, this.layout.prefix);
    for (let l = 0; l < layers; l++) {
      for (const m of this.layout.modules) {
        if (!selects(this.targets, m)) continue;
        const [inDim, outDim] = shapes(l, m);
        const bound = 1 / Math.sqrt(inDim); // kaiming_uniform_(a=√5), as PEFT initialises lora_A
        const a = new Float32Array(o.r * inDim).map(() => (2 * this.rng.next() - 1) * bound);
        this.adapters.set(`${l}.${m}`, {
          A: tf.tidy(() => tf.variable(tf.tensor2d(a, [o.r, inDim]), true, name(l, m, 'A') + `_${uid()}`)),
          B: tf.tidy(() => tf.variable(tf.zeros([outDim, o.r]), true, name(l, m, 'B') + `_${uid()}`)),
        });
      }
    }
    if (this.adapters.size === 0) throw new Error(`LoRA targets [${this.targets}] select no projection`);
  }

  get scale(): number {
    return this.alpha / this.r;
  }

  get isMerged(): boolean {
    return this.merged;
  }

  /** The adapter's contribution for x [..., in] at a projection, or undefined when inactive there. */
  delta(layer: number, module: LoraModule, x: tf.Tensor, training: boolean): tf.Tensor | undefined {
    if (!this.enabled || this.merged) return undefined;
    const ad = this.adapters.get(`${layer}.${module}`);
    if (!ad) return undefined;
    const xin = training ? dropout(x, this.dropout, this.rng.seed()) : x;
    // h·(scale·B)ᵀ: the scale multiplies the small [out, r] B, not the [.., out] product; linearT reads
    // A and B transposed in place on the native backend (no Transpose kernels)
    const h = linearT(xin, ad.A as tf.Tensor2D);
    return linearT(h, tf.mul(ad.B, this.scale) as tf.Tensor2D);
  }

  /**
   * The adapter at a projection for a caller that applies it itself (ops.ts `linearLoraT`), when `delta`
   * would be x·Aᵀ·(scale·B)ᵀ exactly: active and without dropout. Consumes the dropout seed as `delta`
   * does, so the random streams stay the same.
   */
  plain(layer: number, module: LoraModule, training: boolean): { A: tf.Tensor2D; B: tf.Tensor2D; scale: number } | undefined {
    if (!this.enabled || this.merged || (training && this.dropout > 0)) return undefined;
    const ad = this.adapters.get(`${layer}.${module}`);
    if (!ad) return undefined;
    if (training) this.rng.seed();
    return { A: ad.A as tf.Tensor2D, B: ad.B as tf.Tensor2D, scale: this.scale };
  }

  /**
   * Like `delta` but split into `parts` equal chunks of the output (q, k, v of c_attn), slicing the small
   * B matrix instead of the large activations (slicing is slow on wasm).
   */
  deltaSplit(layer: number, module: LoraModule, x: tf.Tensor, parts: number, training: boolean): tf.Tensor[] | undefined {
    if (!this.enabled || this.merged) return undefined;
    const ad = this.adapters.get(`${layer}.${module}`);
    if (!ad) return undefined;
    const xin = training ? dropout(x, this.dropout, this.rng.seed()) : x;
    const h = linearT(xin, ad.A as tf.Tensor2D);
    return tf.split(tf.mul(ad.B, this.scale), parts, 0).map((b) => linearT(h, b as tf.Tensor2D));
  }

  /** ΔW for one adapter in the base weight's layout (a new tensor): [in,out] = scale · Aᵀ · Bᵀ, or [out,in] = scale · B · A. */
  deltaWeight(key: string): tf.Tensor2D {
    const ad = this.adapters.get(key);
    if (!ad) throw new Error(`no LoRA adapter ${key}`);
    if (this.layout.weights === 'out_in') return tf.tidy(() => tf.mul(mm(ad.B as tf.Tensor2D, ad.A as tf.Tensor2D), this.scale) as tf.Tensor2D);
    return tf.tidy(() => tf.mul(mm(tf.transpose(ad.A) as tf.Tensor2D, tf.transpose(ad.B) as tf.Tensor2D), this.scale) as tf.Tensor2D);
  }

  /** Fold the adapters into the base weights (`weight(key)` gives the base variable); forward then skips them. */
  merge(weight: (key: string) => tf.Variable): void {
    if (this.merged) return;
    for (const key of this.adapters.keys()) {
      const w = weight(key);
      tf.tidy(() => w.assign(tf.add(w, this.deltaWeight(key))));
    }
    this.merged = true;
  }

  /** Undo `merge` (up to float rounding). */
  unmerge(weight: (key: string) => tf.Variable): void {
    if (!this.merged) return;
    for (const key of this.adapters.keys()) {
      const w = weight(key);
      tf.tidy(() => w.assign(tf.sub(w, this.deltaWeight(key))));
    }
    this.merged = false;
  }

  /** Trainable adapter variables, by PEFT name. */
  named(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const [key, ad] of this.adapters) {
      const [l, ...m] = key.split('.');
      const module = m.join('.') as LoraModule;
      out.set(peftName(Number(l), module, 'A', this.layout.prefix), ad.A);
      out.set(peftName(Number(l), module, 'B', this.layout.prefix), ad.B);
    }
    return out;
  }

  /** Set adapter weights from PEFT-named arrays (shapes must match). */
  load(weights: Map<string, { shape: number[]; data: Float32Array }>): void {
    const named = this.named();
    for (const [name, w] of weights) {
      const v = named.get(name);
      if (!v) throw new Error(`adapter tensor ${name} has no matching LoRA module (targets [${this.targets}])`);
      if (v.shape.join() !== w.shape.join()) throw new Error(`adapter tensor ${name}: expected [${v.shape}], got [${w.shape}]`);
      tf.tidy(() => v.assign(tf.tensor(w.data, w.shape)));
    }
  }

  dispose(): void {
    for (const ad of this.adapters.values()) {
      ad.A.dispose();
      ad.B.dispose();
    }
    this.adapters.clear();
  }
}

let counter = 0;
/** tf.Variable names are global; suffix them so several models can coexist. */
export function uid(): number {
  return ++counter;
}
