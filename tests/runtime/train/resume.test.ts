// Resumable checkpoints in-process: the training loop stopped (SIGINT-style abort) and resumed in a
// fresh model and optimizer ends bit-identical to an uninterrupted loop — with dropout, LoRA
// dropout and AdamW state in play — and leaks no tensors. Also the loop's fault errors.

import * as tf from '@tensorflow/tfjs';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../../core/diagnostics.ts';
import { AdamW } from '../../../runtime/optim.ts';
import { storeError } from '../../../runtime/runner.ts';
import { Reporter } from '../../../runtime/reporter.ts';
import { Checkpoints, Interrupted } from '../../../runtime/train/resume.ts';
import { collate } from '../../../runtime/train/examples.ts';
import { cycle } from '../../../runtime/train/lm.ts';
import { trainLoop } from '../../../runtime/train/loop.ts';
import { lmRows, tinyModel, useCpu } from '../helpers.ts';

beforeAll(useCpu);
const work = mkdtempSync(join(tmpdir(), 'rlhfc-ckpt-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const rows = lmRows(12, 16);

/** One training run of `total` steps, optionally aborted after `stopAt` steps; returns final weights. */
async function train(dir: string, total: number, stopAt?: number): Promise<{ weights?: Float32Array[]; interrupted?: Interrupted }> {
  mkdirSync(dir, { recursive: true });
  const model = tinyModel({ dropout: 0.2 }, 5);
  model.addLora({ r: 2, alpha: 4, dropout: 0.3, targets: ['c_attn', 'c_fc'], seed: 9 });
  const params = model.trainable();
  const optimizer = new AdamW(params, { lr: 1e-2, weightDecay: 0.1 });
  const reporter = new Reporter({ dir, label: 't', tty: false, write: () => {} });
  const ac = new AbortController();
  const checkpoints = new Checkpoints({ dir: join(dir, 'ck'), node: 'n', every: 3, model, optimizers: () => [optimizer], metricsPath: reporter.metricsPath });
  const next = cycle(rows, 4, 1, 'stage:t');
  let steps = 0;
  try {
    await trainLoop({
      params,
      optimizer,
      lrAt: () => 1e-2,
      gradClip: 1,
      gradAccum: 2,
      totalSteps: total,
      nextBatch: () => collate(next(), 0),
      loss: (b) => {
        steps++;
        if (stopAt !== undefined && steps === stopAt * 2) ac.abort();
        return model.lmLoss(b, { training: true });
      },
      tokens: (b) => b.B * b.T,
      evalEvery: 0,
      logEvery: 2,
      reporter,
      signal: ac.signal,
      checkpoints,
    });
    return { weights: [...model.trainable().values()].map((v) => v.dataSync().slice() as Float32Array) };
  } catch (e) {
    if (e instanceof Interrupted) return { interrupted: e };
    throw e;
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}

describe('resumable checkpoints', () => {
  it('an interrupted loop resumed from its checkpoint ends bit-identical to one that never stopped', async () => {
    const straight = await train(join(work, 'a'), 10);
    const before = tf.memory().numTensors;
    const stopped = await train(join(work, 'b'), 10, 5);
    expect(stopped.interrupted?.step).toBe(5);
    expect(stopped.interrupted?.checkpoint).toBe(join(work, 'b', 'ck', 'ckpt'));
    const resumed = await train(join(work, 'b'), 10);
    expect(tf.memory().numTensors).toBe(before);
    expect(resumed.weights!.length).toBe(straight.weights!.length);
    resumed.weights!.forEach((w, i) => expect(Buffer.from(w.buffer).equals(Buffer.from(straight.weights![i].buffer))).toBe(true));
    // The resumed half did train: five more steps moved the weights away from step 5's.
    const half = await train(join(work, 'c'), 5);
    expect(half.weights!.some((w, i) => !Buffer.from(w.buffer).equals(Buffer.from(straight.weights![i].buffer)))).toBe(true);
  });

  it('a non-finite loss stops the stage with a data error naming the step', async () => {
    const model = tinyModel({}, 1);
    const params = model.trainable();
    const optimizer = new AdamW(params, { lr: 1e-3 });
    const reporter = new Reporter({ dir: work, label: 'nan', tty: false, write: () => {} });
    const run = trainLoop({
      params,
      optimizer,
      lrAt: () => 1e-3,
      gradClip: 1,
      gradAccum: 1,
      totalSteps: 5,
      nextBatch: () => collate(rows.slice(0, 2), 0),
      loss: (b) => tf.mul(model.lmLoss(b, { training: false }), NaN) as tf.Scalar,
      tokens: () => 1,
      evalEvery: 0,
      logEvery: 1,
      reporter,
      signal: new AbortController().signal,
    });
    await expect(run).rejects.toThrow(UserError);
    await expect(run).rejects.toThrow(/loss is NaN at step 1: training diverged/);
    optimizer.dispose();
    model.dispose();
  });

  it('a full disk or read-only store is a clear error naming the stage, not a stack trace', () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    const e = storeError(enospc, 'chat', '/data/.rlhf')!;
    expect(e).toBeInstanceOf(UserError);
    expect(e.diagnostics[0].code).toBe('RLHF9005');
    expect(e.diagnostics[0].message).toMatch(/^stage 'chat': cannot write to the artifact store \/data\/.rlhf: the disk is full/);
    expect(e.diagnostics[0].notes?.[0]).toMatch(/finished stages are intact/);
    expect(storeError(Object.assign(new Error('x'), { code: 'EROFS' }), 's', '/d')!.diagnostics[0].message).toMatch(/read-only/);
    expect(storeError(new Error('a bug'), 's', '/d')).toBeUndefined();
  });
});
