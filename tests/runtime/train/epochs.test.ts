// An epoch as the Trainer counts it (issue 26, found by tests/interop/dpo-lockstep.test.ts): every item
// once, ⌈n / batch_size⌉ batches with the last one partial (the Trainer's dataloader keeps it), and
// ⌈batches / grad_accum⌉ optimizer steps. rlhfc used to drop an epoch's remainder (⌊n / batch⌋ steps).
import { describe, expect, it } from 'vitest';
import { cycle, plannedSteps } from '../../../runtime/train/lm.ts';
import type { LoopParams } from '../../../runtime/train/params.ts';

const loop = (o: Partial<LoopParams>) => ({ batch_size: 16, grad_accum: 1, epochs: 1, max_steps: 0, ...o }) as LoopParams;

describe('epochs', () => {
  it('cycle: each epoch gives every item once, its last group partial, and the next epoch reshuffles', () => {
    const items = [...Array(37).keys()];
    const next = cycle(items, 16, 42, 'stage:t');
    const epoch1 = [next(), next(), next()];
    expect(epoch1.map((b) => b.length)).toEqual([16, 16, 5]);
    expect(epoch1.flat().sort((a, b) => a - b)).toEqual(items);
    const epoch2 = [next(), next(), next()];
    expect(epoch2.map((b) => b.length)).toEqual([16, 16, 5]);
    expect(epoch2.flat().sort((a, b) => a - b)).toEqual(items);
    expect(epoch2.flat()).not.toEqual(epoch1.flat());
    expect(next()).toHaveLength(16); // epoch 3 starts
    // fewer items than a batch: the whole set each time
    const few = cycle([1, 2, 3], 16, 1, 's');
    expect([...few()].sort()).toEqual([1, 2, 3]);
    expect([...few()].sort()).toEqual([1, 2, 3]);
  });

  it('plannedSteps: ⌈n / batch⌉ batches an epoch, ⌈batches / grad_accum⌉ steps; max_steps wins', () => {
    expect(plannedSteps(loop({}), 1350)).toBe(85); // the parity spec's DPO stage (TRL: 85)
    expect(plannedSteps(loop({}), 1344)).toBe(84);
    expect(plannedSteps(loop({ epochs: 3 }), 37)).toBe(9);
    expect(plannedSteps(loop({ grad_accum: 2 }), 1350)).toBe(43); // 85 batches: 42 full steps and one of 1
    expect(plannedSteps(loop({}), 5)).toBe(1);
    expect(plannedSteps(loop({ max_steps: 7 }), 1350)).toBe(7);
  });
});
