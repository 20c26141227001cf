import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { afinnJudge, lengthJudge, makeJudge, userJudge, vaderJudge, wordsJudge } from '../runtime/judges/index.ts';
import { UserError } from '../compiler/diagnostics.ts';

describe('rule judges', () => {
  it('sentiment judges rank positive above negative', async () => {
    const rs = ['The food was great and the staff were lovely.', 'The food was awful and the staff were rude.'];
    for (const j of [vaderJudge(), afinnJudge()]) {
      const [pos, neg] = await j.score(['', ''], rs);
      expect(pos).toBeGreaterThan(0);
      expect(neg).toBeLessThan(0);
    }
  });
  it('length and word-list judges', async () => {
    expect(await lengthJudge(0).score(['', ''], ['one two three', ''])).toEqual([3, 0]);
    expect(await lengthJudge(2).score([''], ['one two three four'])).toEqual([-2]);
    expect(await wordsJudge(['thanks', 'please']).score([''], ['Thanks, please come'])).toEqual([2 / 3]);
  });
});

describe('user judges', () => {
  it('loads the example hook and scores with it', async () => {
    const j = await makeJudge('fn', { ref: 'hooks.ts#politeness' }, 'examples');
    expect(await j.score(['Hi', 'Hi'], ['Thank you, please come again.', 'Go away.'])).toEqual([2, 0]);
  });
  it('each failure is a clear user error naming the file and the input', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rlhfc-hook-'));
    writeFileSync(join(dir, 'h.ts'), 'export const notFn = 3;\nexport function boom(p: string, r: string): number { throw new Error("kaput"); }\nexport function nan(p: string, r: string): number { return NaN; }\n');
    await expect(userJudge('h.ts#missing', dir)).rejects.toThrow(/'missing' is not an exported function of h.ts/);
    await expect(userJudge('h.ts#notFn', dir)).rejects.toBeInstanceOf(UserError);
    await expect((await userJudge('h.ts#boom', dir)).score(['p'], ['resp'])).rejects.toThrow(/threw on response "resp": kaput/);
    await expect((await userJudge('h.ts#nan', dir)).score(['p'], ['resp'])).rejects.toThrow(/returned NaN/);
    await expect(userJudge('nope.ts#f', dir)).rejects.toThrow(/cannot load judge nope.ts#f/);
  });
});
