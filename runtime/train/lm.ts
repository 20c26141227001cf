// What the training stages share about their model: open it from an artifact (fresh `gpt`
// declaration, saved folder, or LoRA adapter over a base folder), attach LoRA and heads, build the
// optimizer, compute the stage losses on collated batches, evaluate, and save the result.

import * as tf from '@tensorflow/tfjs';
import { UserError, diag } from '../../core/diagnostics.ts';
import { fromCheckpoint, toAdapterCheckpoint, toCheckpoint } from '../model/io.ts';
import { shuffle } from '../data/split.ts';
import type { CausalLM } from '../model/causal-lm.ts';
import { GPT } from '../model/gpt.ts';
import { newLlama } from '../model/io.ts';
import { AdamW } from '../optim.ts';
import { pairwiseRewardLoss } from '../rl/losses.ts';
import { odinRewardLoss, type LengthDebias, type OdinLoss } from '../rl/odin.ts';
import { loadTokenizer, type Tokenizer } from '../tokenizers/index.ts';
import type { ModelArtifact, StageContext, TokenizerArtifact } from '../stage-context.ts';
import { collate, type Row } from './examples.ts';
import { toTensors, type Batch } from '../model/batch.ts';
import { lrSchedule, type OptimizerParts } from './loop.ts';
import type { LoopParams, LoraParams, OptimizerParams } from './params.ts';
import { Checkpoints } from './resume.ts';
import { correlation } from '../text-stats.ts';

export interface OpenOptions {
  /** Input holding the model (default 'model'). */
  modelInput?: string;
  /** Input that may hold a tokenizer (required for a fresh `gpt`). */
  tokenizerInput?: string;
  /** The stage's `lora { ... }` block (null: train every weight). */
  lora?: LoraParams | null;
  head?: 'reward' | 'value';
}

export interface PairBatch {
  chosen: Batch;
  rejected: Batch;
  margin: Float32Array;
  /** Response tokens of each chosen / rejected row (end-of-text included). */
  chosenTokens: Float32Array;
  rejectedTokens: Float32Array;
}

export class LM {
  private readonly optimizers: AdamW[] = [];

  constructor(
    readonly model: CausalLM,
    readonly tokenizer: Tokenizer,
    /** The saved folder this model was loaded from, when it holds full weights (an adapter can point at it). */
    private readonly baseDir: string | undefined,
    private readonly kind: 'causal_lm' | 'reward_model',
    /** `lora { merge: true }`: save merged full weights even when an adapter alone would do. */
    private readonly saveMerged = false,
  ) {}

  dataError(message: string): UserError {
    return new UserError([diag('RLHF9002', message)]);
  }

  /** "LoRA r=8 (c_attn): 12,288 of 1,234,567 weights trainable". */
  describeTrainable(): string {
    const n = [...this.model.trainable().values()].reduce((s, v) => s + v.size, 0);
    const total = this.model.paramCount();
    const l = this.model.lora;
    const what = l ? `LoRA r=${l.r} α=${l.alpha} on ${l.targets.join(', ')}` : 'full fine-tuning';
    return `${what}: ${n.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} weights trainable`;
  }

  /** Trainable params, AdamW, the schedule and the clipping norm of an `optimizer { ... }` block. */
  optimizerParts(o: OptimizerParams, totalSteps: number, extra: Map<string, tf.Variable> = new Map()): OptimizerParts {
    const params = new Map([...this.model.trainable(), ...extra]);
    const [beta1, beta2] = o.betas;
    const optimizer = new AdamW(params, { lr: o.lr, beta1, beta2, eps: o.eps, weightDecay: o.weight_decay });
    this.optimizers.push(optimizer);
    return { params, optimizer, lrAt: lrSchedule(o, totalSteps), gradClip: o.grad_clip };
  }

  lmLoss(b: Batch, training: boolean): tf.Scalar {
    return this.model.lmLoss(b, { training });
  }

  /** Rewards of chosen and rejected rows. */
  private pairRewards(b: PairBatch, training: boolean): { rc: tf.Tensor1D; rr: tf.Tensor1D } {
    const c = toTensors(b.chosen);
    const r = toTensors(b.rejected);
    return {
      rc: this.model.rewards(c.ids, c.mask, c.lastIndex!, { training }),
      rr: this.model.rewards(r.ids, r.mask, r.lastIndex!, { training }),
    };
  }

  pairLoss(b: PairBatch, centering: number): tf.Scalar {
    const { rc, rr } = this.pairRewards(b, true);
    const margin = b.margin.some((m) => m !== 0) ? tf.tensor1d(b.margin) : undefined;
    return pairwiseRewardLoss(rc, rr, margin, centering);
  }

  /** The reward head's weight vector [1, C] (its first row). */
  private rewardHeadVector(): tf.Tensor2D {
    const w = this.model.trainable().get('score.weight');
    if (!w) throw new Error('model has no reward head (addHead("reward"))');
    return (w.shape[0] === 1 ? w : tf.slice(w, [0, 0], [1, -1])) as tf.Tensor2D;
  }

  /** A fresh length head for ODIN: a [1, C] variable like the reward head, seeded. */
  newLengthHead(seed: number): tf.Variable<tf.Rank.R2> {
    const c = this.rewardHeadVector().shape[1];
    return tf.tidy(() => tf.variable(tf.randomNormal([1, c], 0, 0.02, 'float32', seed), true)) as tf.Variable<tf.Rank.R2>;
  }

  /** Quality (the `score` head, as \`rewards\` reads it) and length outputs of a batch's rows, from one forward pass. */
  private twoHeads(b: Batch, lengthHead: tf.Tensor2D, training: boolean): { quality: tf.Tensor1D; length: tf.Tensor1D } {
    const t = toTensors(b);
    const h = this.model.hidden(t.ids, t.mask, { training });
    const last = tf.sum(tf.mul(h, tf.expandDims(tf.oneHot(t.lastIndex! as tf.Tensor1D, b.T), 2)), 1) as tf.Tensor2D; // [B, C]
    const heads = tf.matMul(last, tf.concat([this.rewardHeadVector(), lengthHead]), false, true); // [B, 2]
    const [quality, length] = tf.unstack(heads, 1) as tf.Tensor1D[];
    return { quality, length };
  }

  /** The ODIN loss of a pair batch (runtime/rl/odin.ts) with `lengthHead` as the second output. */
  odinLoss(b: PairBatch, centering: number, w: LengthDebias, lengthHead: tf.Tensor2D): OdinLoss {
    const c = this.twoHeads(b.chosen, lengthHead, true);
    const r = this.twoHeads(b.rejected, lengthHead, true);
    const margin = b.margin.some((m) => m !== 0) ? tf.tensor1d(b.margin) : undefined;
    return odinRewardLoss(
      {
        qualityChosen: c.quality,
        qualityRejected: r.quality,
        lengthChosen: c.length,
        lengthRejected: r.length,
        tokensChosen: tf.tensor1d(b.chosenTokens),
        tokensRejected: tf.tensor1d(b.rejectedTokens),
        qualityHead: this.rewardHeadVector(),
        lengthHead,
        margin,
      },
      w,
      centering,
    );
  }

  /** Pearson correlation, over every response of `pairs`, of the reward head's score with the response's length in tokens (NaN without spread). */
  async lengthCorrelation(pairs: { chosen: Row; rejected: Row; margin: number }[], bs: number): Promise<number> {
    const scores: number[] = [];
    const lengths: number[] = [];
    for (let i = 0; i < pairs.length; i += bs) {
      const b = pairBatch(pairs.slice(i, i + bs), this.tokenizer.padId);
      const s = tf.tidy(() => {
        const { rc, rr } = this.pairRewards(b, false);
        return tf.concat([rc, rr]);
      });
      scores.push(...(await s.data()));
      s.dispose();
      lengths.push(...b.chosenTokens, ...b.rejectedTokens);
    }
    return correlation(scores, lengths);
  }

  /** Fraction of pairs with r_chosen > r_rejected, and the mean r_chosen − r_rejected. */
  async pairAccuracy(pairs: { chosen: Row; rejected: Row; margin: number }[], bs: number): Promise<{ accuracy: number; margin: number }> {
    let right = 0;
    let sum = 0;
    for (let i = 0; i < pairs.length; i += bs) {
      const b = pairBatch(pairs.slice(i, i + bs), this.tokenizer.padId);
      const d = tf.tidy(() => {
        const { rc, rr } = this.pairRewards(b, false);
        return tf.sub(rc, rr);
      });
      const diffs = await d.data();
      d.dispose();
      for (const x of diffs) {
        if (x > 0) right++;
        sum += x;
      }
    }
    return { accuracy: right / Math.max(pairs.length, 1), margin: sum / Math.max(pairs.length, 1) };
  }

  /**
   * Save into `dir`. A causal LM with LoRA over a saved full-weights folder is saved as the adapter
   * alone (PEFT layout) pointing at that folder; everything else as full weights (LoRA merged).
   */
  async save(dir: string): Promise<void> {
    if (this.model.lora && this.baseDir && this.kind === 'causal_lm' && !this.saveMerged) {
      await toAdapterCheckpoint(dir, this.model, { baseDir: this.baseDir, tokenizer: this.tokenizer });
    } else await toCheckpoint(dir, this.model, { tokenizer: this.tokenizer, kind: this.kind });
  }

  /** Resumable checkpoints of this model and its optimizers, in the runner's folder for the stage, every `every` steps (0: every 2 minutes). */
  checkpoints(ctx: StageContext, every: number): Checkpoints {
    return new Checkpoints({
      dir: ctx.checkpointDir,
      node: ctx.node.hash,
      every,
      model: this.model,
      optimizers: () => this.optimizers,
      metricsPath: ctx.reporter.metricsPath,
      warn: (line) => ctx.reporter.note(line),
    });
  }

  dispose(): void {
    for (const o of this.optimizers) o.dispose();
    this.model.dispose();
  }
}

/** Open the stage's model (see OpenOptions). */
export async function openLM(ctx: StageContext, o: OpenOptions = {}): Promise<LM> {
  const art = ctx.inputs[o.modelInput ?? 'model'] as ModelArtifact;
  const tokArt = o.tokenizerInput ? (ctx.inputs[o.tokenizerInput] as TokenizerArtifact | undefined) : undefined;
  const seed = ctx.seed;
  let model: CausalLM;
  let tokenizer: Tokenizer | undefined = tokArt ? await loadTokenizer(tokArt.dir) : undefined;
  let baseDir: string | undefined;
  if (art.dir) {
    const ck = await fromCheckpoint(art.dir, { seed });
    model = ck.model;
    // A LoRA checkpoint continues as its merged weights (the adapter folded into the base).
    if (model.lora) {
      model.mergeLora();
      model.removeLora();
    } else baseDir = art.dir;
    const cfg = ck.config;
    tokenizer ??= ck.tokenizer;
    if (!tokenizer) throw new UserError([diag('RLHF9003', `model folder ${art.dir} has no tokenizer; add 'tokenizer: <name>' to the stage`)]);
    // The one run-time check that a tokenizer fits a model's weights (hf-checkpoint.ts reads folders
    // without judging the pair; the compiler checks what it knows beforehand, e.g. ppo's rules). A
    // folder's own tokenizer may have fewer tokens than the model's padded embedding (Qwen2.5: 151,665
    // of 151,936): the ids past it are never produced by the tokenizer and never sampled (decode.ts).
    const own = !tokArt;
    if (own ? tokenizer.vocabSize > cfg.vocab_size : tokenizer.vocabSize !== cfg.vocab_size) {
      throw new UserError([
        diag('RLHF9003', `${art.dir}: the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocabulary (config.json vocab_size) is ${cfg.vocab_size}; ${own ? 'a tokenizer cannot have more tokens than its model' : 'a model and the tokenizer a stage binds to it must have the same vocabulary'}`),
      ]);
    }
  } else {
    if (!art.init) throw new Error('model artifact has neither a folder nor an architecture');
    if (!tokenizer) throw new UserError([diag('RLHF9002', `a fresh ${art.init && 'family' in art.init ? 'llama' : 'gpt'} model needs a tokenizer input`)]);
    const i = art.init;
    model = 'family' in i ? newLlama(i, tokenizer.vocabSize, seed) : new GPT({ vocabSize: tokenizer.vocabSize, context: i.context, width: i.width, layers: i.layers, heads: i.heads, dropout: i.dropout }, { seed });
  }
  if (o.head) model.addHead(o.head);
  const lora = o.lora;
  if (lora) model.addLora({ r: lora.r, alpha: lora.alpha, dropout: lora.dropout, targets: lora.targets, seed });
  return new LM(model, tokenizer, baseDir, o.head === 'reward' ? 'reward_model' : 'causal_lm', Boolean(lora?.merge));
}

/** Token-weighted mean loss over `rows` (all of them, or the first `maxBatches` batches), without dropout. */
export async function evalLoss(lm: LM, rows: Row[], bs: number, maxBatches = Infinity): Promise<number> {
  let sum = 0;
  let n = 0;
  for (let i = 0, k = 0; i < rows.length && k < maxBatches; i += bs, k++) {
    const b = collate(rows.slice(i, i + bs), lm.tokenizer.padId);
    const count = b.targetsMask.reduce((s, x) => s + x, 0);
    if (count === 0) continue;
    const l = tf.tidy(() => lm.lmLoss(b, false));
    sum += (await l.data())[0] * count;
    l.dispose();
    n += count;
  }
  return sum / Math.max(n, 1);
}

/** The loop settings every training stage passes through unchanged from its params and context. */
export function loopSettings(ctx: Omit<StageContext, 'params'> & { params: LoopParams }, lm: LM) {
  const p = ctx.params;
  return {
    checkpoints: lm.checkpoints(ctx, p.checkpoint_every),
    gradAccum: p.grad_accum,
    evalEvery: p.eval_every,
    logEvery: p.log_every,
    reporter: ctx.reporter,
    signal: ctx.signal,
  };
}

/**
 * Optimizer steps a stage runs: `max_steps` when set, else `epochs` passes of `n` examples — as the
 * Trainer counts them: ⌈n / batch_size⌉ batches an epoch (the last one partial), ⌈batches / grad_accum⌉ steps
 * (with grad_accum > 1 an epoch's last step fills up with the next epoch's batches where the Trainer takes fewer).
 */
export function plannedSteps(p: LoopParams, n: number): number {
  const perEpoch = Math.max(1, Math.ceil(Math.ceil(n / p.batch_size) / p.grad_accum));
  return p.max_steps > 0 ? p.max_steps : perEpoch * p.epochs;
}

/**
 * Endless groups of `bs` items, reshuffled every epoch with a seed derived from the run seed and `salt`.
 * Every item comes once an epoch: its last group holds the remainder (fewer than `bs`), as the Trainer's
 * dataloader (drop_last off) gives it.
 */
export function cycle<T>(items: T[], bs: number, seed: number, salt: string): () => T[] {
  let epoch = 0;
  let order: T[] = [];
  let i = 0;
  return () => {
    if (i >= order.length) {
      order = shuffle(items, `${seed}:${salt}:${epoch++}`);
      i = 0;
    }
    return order.slice(i, (i += bs));
  };
}

export function batchIterator(rows: Row[], bs: number, padId: number, seed: number, salt: string): () => Batch {
  const next = cycle(rows, bs, seed, salt);
  return () => collate(next(), padId);
}

export function pairBatch(pairs: { chosen: Row; rejected: Row; margin: number }[], padId: number): PairBatch {
  return {
    chosen: collate(pairs.map((p) => p.chosen), padId, { shift: false }),
    rejected: collate(pairs.map((p) => p.rejected), padId, { shift: false }),
    margin: Float32Array.from(pairs.map((p) => p.margin)),
    chosenTokens: Float32Array.from(pairs.map((p) => responseTokens(p.chosen))),
    rejectedTokens: Float32Array.from(pairs.map((p) => responseTokens(p.rejected))),
  };
}

/** Tokens of a row's response (those in its loss). */
function responseTokens(r: Row): number {
  return r.loss.reduce((s, x) => s + x, 0);
}

export function pairIterator(pairs: { chosen: Row; rejected: Row; margin: number }[], bs: number, seed: number, salt: string, padId: number): () => PairBatch {
  const next = cycle(pairs, bs, seed, salt);
  return () => pairBatch(next(), padId);
}
