// A resumable checkpoint whose state.json claims a step beyond the stage's length (1e9 of 400) is
// damaged: set aside with the warning every damaged checkpoint gets, and the stage runs from step 0
// (before, the loop took it and replayed its data to step 1e9: a run that never ended).
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW } from '../../../runtime/optim.ts';
import { Reporter } from '../../../runtime/reporter.ts';
import { Checkpoints } from '../../../runtime/train/resume.ts';
import { runSteps } from '../../../runtime/train/loop.ts';
import { tinyModel, useCpu } from '../helpers.ts';

beforeAll(useCpu);

describe('a checkpoint beyond the stage', () => {
  it.each([1e9, 401])('at step %s of 400 is set aside as damaged and the stage runs from step 0', async (claimed) => {
    const dir = mkdtempSync(join(tmpdir(), 'rlhfc-ckpt-beyond-'));
    const before = tf.memory().numTensors;
    const model = tinyModel({}, 5);
    const optimizer = new AdamW(model.trainable(), { lr: 1e-2 });
    const warnings: string[] = [];
    const reporter = new Reporter({ dir, label: 't', tty: false, write: () => {} });
    const checkpoints = new Checkpoints({ dir: join(dir, 'ck'), node: 'n', every: 0, model, optimizers: () => [optimizer], metricsPath: reporter.metricsPath, warn: (l) => warnings.push(l) });
    await checkpoints.save({ step: 3, extra: {} });
    const state = join(dir, 'ck', 'ckpt', 'state.json');
    writeFileSync(state, readFileSync(state, 'utf8').replace(/"step": 3,/, `"step": ${claimed},`));
    expect(JSON.parse(readFileSync(state, 'utf8')).step).toBe(claimed);
    const steps: number[] = [];
    const r = await runSteps({
      totalSteps: 400,
      reporter,
      signal: new AbortController().signal,
      checkpoints,
      state: () => ({}),
      restore: () => {},
      progress: () => ({}),
      step: async (s) => void steps.push(s),
    });
    reporter.stop();
    expect(r.resumedFrom).toBe(0);
    expect(steps).toEqual(Array.from({ length: 400 }, (_, i) => i));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^warning: damaged checkpoint set aside as .*damaged-\d+; the stage restarts from step 0/);
    expect(warnings[0]).toContain(`its step ${claimed} is beyond the stage's 400 steps`);
    expect(existsSync(join(dir, 'ck', 'ckpt'))).toBe(false);
    expect(readdirSync(join(dir, 'ck')).some((f) => f.startsWith('damaged-'))).toBe(true);
    optimizer.dispose();
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
