import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JUDGE_SOURCES, makeJudge, type Judge } from '../../runtime/sources/index.ts';
import { afinnJudge } from '../../runtime/sources/judge-afinn.ts';
import { loadUserJudge, userJudge } from '../../runtime/sources/judge-fn.ts';
import { lengthJudge } from '../../runtime/sources/judge-length.ts';
import { vaderJudge } from '../../runtime/sources/judge-vader.ts';
import { wordsJudge } from '../../runtime/sources/judge-words.ts';
import { sentimentSentences } from '../../runtime/sources/dataset-corpus.ts';
import { UserError } from '../../core/diagnostics.ts';
import type { Value } from '../../core/schema.ts';

describe('sentiment judges', () => {
  it('rank a positive sentence above a negative one', async () => {
    const rs = ['The food was great and the staff were lovely.', 'The food was awful and the staff were rude.'];
    for (const j of [vaderJudge(), afinnJudge()]) {
      const [pos, neg] = await j.score(['', ''], rs);
      expect(pos).toBeGreaterThan(0);
      expect(neg).toBeLessThan(0);
    }
  });
  it('agree with human labels on 1,000 Yelp review sentences (sentiment package fixtures)', async () => {
    const data = sentimentSentences(['yelp']);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    for (const j of [vaderJudge(), afinnJudge()]) {
      const s = await j.score(data.map(() => ''), data.map((d) => d.text));
      const pos = s.filter((_, i) => data[i].positive);
      const neg = s.filter((_, i) => !data[i].positive);
      expect(mean(pos) - mean(neg)).toBeGreaterThan(0.2);
      // sign agreement where the judge has an opinion (measured: VADER 0.85 of 757, AFINN 0.84 of 720)
      const decided = s.map((x, i) => [x, data[i].positive] as const).filter(([x]) => x !== 0);
      expect(decided.length).toBeGreaterThan(600);
      expect(decided.filter(([x, y]) => x > 0 === y).length / decided.length).toBeGreaterThan(0.78);
    }
  });
  it('score an empty response 0, in order, one per pair', async () => {
    for (const j of [vaderJudge(), afinnJudge()]) {
      const s = await j.score(['a', 'b', 'c'], ['', 'I hate this.', 'I love this.']);
      expect(s).toHaveLength(3);
      expect(s[0]).toBe(0);
      expect(s[1]).toBeLessThan(0);
      expect(s[2]).toBeGreaterThan(0);
    }
  });
});

describe('afinn(per_token)', () => {
  it('per token (default) divides the summed AFINN-165 score by the number of tokens; per_token: false keeps the sum', async () => {
    // "great" +3; "the food was great and good": great +3, good +3 over 6 tokens; "bad" −3;
    // "it is not good": "not" negates good → −3 over 4 tokens; empty → 0.
    const texts = ['great', 'the food was great and good', 'bad', 'it is not good', ''];
    expect(await afinnJudge().score(texts.map(() => ''), texts)).toEqual([3, 1, -3, -0.75, 0]);
    expect(await afinnJudge(true).score(texts.map(() => ''), texts)).toEqual([3, 1, -3, -0.75, 0]);
    expect(await afinnJudge(false).score(texts.map(() => ''), texts)).toEqual([3, 6, -3, -3, 0]);
    expect(afinnJudge(false).name).toBe('afinn(per_token: false)');
    expect(await (await makeJudge('afinn', { per_token: false }, '.')).score([''], ['the food was great and good'])).toEqual([6]);
    expect(await (await makeJudge('afinn', {}, '.')).score([''], ['the food was great and good'])).toEqual([1]);
  });
});

describe('length and word-list judges', () => {
  it('length: word count, or −|count − target|', async () => {
    expect(await lengthJudge(0).score(['', '', ''], ['one two three', '', "Don't stop, café!"])).toEqual([3, 0, 3]);
    expect(await lengthJudge(2).score(['', '', ''], ['one two three four', 'one two', ''])).toEqual([-2, 0, -2]);
  });
  it('words: fraction of listed words, case-insensitive', async () => {
    // "thanks", "please" of [thanks, please, come] → 2/3; no words → 0
    expect(await wordsJudge(['Thanks', 'please']).score(['', '', ''], ['THANKS, please come', 'nothing here', ''])).toEqual([2 / 3, 0, 0]);
    expect(await wordsJudge([]).score([''], ['thanks'])).toEqual([0]);
  });
  it('makeJudge builds each rule judge from resolved args', async () => {
    expect((await makeJudge('length', { target: 3 }, '.')).name).toBe('length(3)');
    expect(await (await makeJudge('words', { list: ['yes'] }, '.')).score([''], ['yes no'])).toEqual([0.5]);
    await expect(makeJudge('gpt4', {}, '.')).rejects.toThrow(/unknown judge constructor 'gpt4'/);
  });
});

describe('judge constructors', () => {
  it('every judge constructor of the language (JUDGE_SOURCES) is built by makeJudge', async () => {
    const args: Record<string, Record<string, Value>> = { vader: {}, afinn: {}, length: { target: 3 }, words: { list: ['yes'] }, fn: { ref: 'tests/fixtures/judges.ts#digits' } };
    expect(Object.keys(args).sort()).toEqual(Object.keys(JUDGE_SOURCES).sort());
    for (const [name, a] of Object.entries(args)) expect((await makeJudge(name, a, '.')).score).toBeTypeOf('function');
  });
});

describe('user judges', () => {
  it('loads the example hook (a .ts file, through tsx) and scores with it', async () => {
    const j = await makeJudge('fn', { ref: 'hooks.ts#politeness' }, 'examples');
    expect(j.name).toBe('fn(hooks.ts#politeness)');
    // "thank", "please" → 2; none → 0; "sorry", "thanks", "kindly" → 3
    expect(await j.score(['Hi', 'Hi', 'Hi'], ['Thank you, please come again.', 'Go away.', 'Sorry! Thanks, kindly wait.'])).toEqual([2, 0, 3]);
    const same = await loadUserJudge('hooks.ts', 'politeness', 'examples');
    expect(await same.score(['x'], ['please'])).toEqual([1]);
  });

  const dir = mkdtempSync(join(tmpdir(), 'rlhfc-hook-'));
  writeFileSync(
    join(dir, 'h.ts'),
    [
      'export const notFn = 3;',
      'export function boom(p: string, r: string): number { throw new Error("kaput\\nsecond line"); }',
      'export function nan(p: string, r: string): number { return NaN; }',
      'export function text(p: string, r: string): number { return "five" as unknown as number; }',
      'export async function later(p: string, r: string): Promise<number> { return r.length + p.length; }',
      'export function politness(p: string, r: string): number { return 1; }',
      'export function exact(p: string, r: string, rec: { prompt: string; answer?: string }): number { return r.trim() === rec.answer ? 1 : rec.prompt === p ? 0 : -1; }',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'broken.ts'), 'export function f(: string) {');
  const failure = async (p: Promise<unknown>): Promise<UserError> => {
    const e = await p.then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(UserError);
    return e as UserError;
  };
  const scoreOne = (j: Judge) => j.score(['Say hi'], ['resp']);

  it('a third parameter receives the prompt\'s dataset record (or { prompt } when the caller has none)', async () => {
    const j = await userJudge('h.ts#exact', dir);
    const records = [{ prompt: '2+2=', answer: '4' }, { prompt: '3+3=', answer: '6' }];
    expect(await j.score(['2+2=', '3+3='], [' 4', '5'], records)).toEqual([1, 0]);
    expect(await j.score(['1+1='], ['2'])).toEqual([0]);
  });

  it('async functions work', async () => {
    expect(await (await userJudge('h.ts#later', dir)).score(['ab', ''], ['xyz', ''])).toEqual([5, 0]);
  });
  it('missing export: RLHF3013 with did-you-mean or the list of exports', async () => {
    let e = await failure(userJudge('h.ts#politeness', dir));
    expect(e.diagnostics[0].code).toBe('RLHF3013');
    expect(e.message).toMatch(/h\.ts does not export 'politeness'; did you mean 'politness'\?/);
    e = await failure(userJudge('h.ts#zzzzzz', dir));
    expect(e.message).toMatch(/does not export 'zzzzzz' \(it exports: .*boom.*\)/);
  });
  it('not a function: RLHF3013 naming what it is', async () => {
    const e = await failure(userJudge('h.ts#notFn', dir));
    expect(e.diagnostics[0].code).toBe('RLHF3013');
    expect(e.message).toMatch(/'notFn' in .*h\.ts is not a function \(it is 3\)/);
  });
  it('throws: RLHF9002 naming the export, file, prompt and response (first line of the error only)', async () => {
    const e = await failure(scoreOne(await userJudge('h.ts#boom', dir)));
    expect(e.diagnostics[0].code).toBe('RLHF9002');
    expect(e.message).toMatch(/judge boom \(.*h\.ts\) threw on prompt "Say hi", response "resp": kaput$/);
  });
  it('NaN or a non-number: RLHF9002 saying what came back', async () => {
    expect((await failure(scoreOne(await userJudge('h.ts#nan', dir)))).message).toMatch(/judge nan .* returned NaN, not a finite number, on prompt "Say hi", response "resp"/);
    expect((await failure(scoreOne(await userJudge('h.ts#text', dir)))).message).toMatch(/returned the string "five", not a finite number/);
  });
  it('missing file, file that does not compile, malformed reference', async () => {
    const missing = await failure(userJudge('nope.ts#f', dir));
    expect(missing.diagnostics[0].code).toBe('RLHF9001');
    expect(missing.message).toMatch(/cannot read judge file .*nope\.ts: it does not exist/);
    const broken = await failure(userJudge('broken.ts#f', dir));
    expect(broken.diagnostics[0].code).toBe('RLHF9002');
    expect(broken.message).toMatch(/cannot load judge file .*broken\.ts: /);
    expect((await failure(userJudge('h.ts', dir))).message).toMatch(/must be "path\/to\/file.ts#exportName"/);
  });
});
