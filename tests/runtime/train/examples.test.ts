import { describe, expect, it } from 'vitest';
import { Gpt2Tokenizer } from '../../../runtime/tokenizers/index.ts';
import { collate, encodePreference, encodeSft, formatPair, joinTruncated, packRows, packText } from '../../../runtime/train/examples.ts';

const tok = new Gpt2Tokenizer();

describe('SFT examples', () => {
  it('splits the template at {response}', () => {
    expect(formatPair('### Q: {prompt}\n### A: {response}', 'Why?', 'Because.')).toEqual({
      promptText: '### Q: Why?\n### A: ',
      responseText: 'Because.',
    });
    expect(formatPair('{prompt} => {response} [end]', 'a', 'b')).toEqual({ promptText: 'a => ', responseText: 'b [end]' });
  });

  it('puts loss on response tokens and end-of-text only', () => {
    const row = encodeSft(tok, 'Q: {prompt}\nA: {response}', 'Is it good?', 'Very good.', 64);
    const promptLen = tok.encode('Q: Is it good?\nA: ').length;
    const respIds = [...tok.encode('Very good.'), tok.eosId];
    expect(row.ids).toEqual([...tok.encode('Q: Is it good?\nA: '), ...respIds]);
    expect(row.loss.slice(0, promptLen)).toEqual(new Array(promptLen).fill(0));
    expect(row.loss.slice(promptLen)).toEqual(new Array(respIds.length).fill(1));
    expect(row.ids.at(-1)).toBe(tok.eosId);
  });

  it('trains on every token but the first when completion_only is false', () => {
    const row = encodeSft(tok, '{prompt}{response}', 'The speech', ' began.', 64, false);
    expect(row.loss[0]).toBe(0);
    expect(row.loss.slice(1).every((x) => x === 1)).toBe(true);
  });

  it('truncates: the prompt keeps its end, the response its start', () => {
    const p = [1, 2, 3, 4, 5, 6, 7, 8];
    const r = [10, 11, 12, 13, 14, 15];
    expect(joinTruncated(p, r, 8)).toEqual({ ids: [3, 4, 5, 6, 7, 8, 10, 11], promptLen: 6 });
    expect(joinTruncated([1], r, 4)).toEqual({ ids: [1, 10, 11, 12], promptLen: 1 });
    expect(joinTruncated(p, r, 20, 3)).toEqual({ ids: [6, 7, 8, 10, 11, 12, 13, 14, 15], promptLen: 3 });
  });
});

describe('preference examples', () => {
  it('share the prompt and mark only response tokens', () => {
    const { chosen, rejected } = encodePreference(tok, 'The food was', ' great.', ' awful and cold.', 64);
    const n = tok.encode('The food was').length;
    expect(chosen.ids.slice(0, n)).toEqual(rejected.ids.slice(0, n));
    expect(chosen.loss.slice(0, n).every((x) => x === 0)).toBe(true);
    expect(chosen.loss.slice(n).every((x) => x === 1)).toBe(true);
    expect(rejected.loss.slice(n).every((x) => x === 1)).toBe(true);
    expect(chosen.ids.at(-1)).toBe(tok.eosId);
  });
});

describe('pretraining blocks', () => {
  it('joins documents with end-of-text and makes every token a target once', () => {
    const docs = [[1, 2, 3], [4, 5], [6, 7, 8, 9]];
    // stream: 1 2 3 E 4 5 E 6 7 8 9 E  (12 tokens, E = 0)
    const rows = packText(docs, 4, 0, 'drop');
    expect(rows.map((r) => r.ids)).toEqual([
      [1, 2, 3, 0, 4],
      [4, 5, 0, 6, 7],
    ]);
    const padded = packText(docs, 4, 0, 'pad');
    expect(padded.map((r) => r.ids)).toEqual([
      [1, 2, 3, 0, 4],
      [4, 5, 0, 6, 7],
      [7, 8, 9, 0, 0],
    ]);
    expect(padded[2].loss).toEqual([0, 1, 1, 1, 0]);
    // targets over all rows = stream[1..] exactly once
    const targets = padded.flatMap((r) => r.ids.filter((_, i) => r.loss[i] === 1));
    expect(targets).toEqual([2, 3, 0, 4, 5, 0, 6, 7, 8, 9, 0]);
  });
});

describe('collate', () => {
  it('shifts targets and pads on the right', () => {
    const b = collate([{ ids: [5, 6, 7], loss: [0, 1, 1] }, { ids: [8, 9], loss: [0, 1] }], 0);
    expect(b.T).toBe(2);
    expect(Array.from(b.ids)).toEqual([5, 6, 8, 0]);
    expect(Array.from(b.targets)).toEqual([6, 7, 9, 0]);
    expect(Array.from(b.targetsMask)).toEqual([1, 1, 1, 0]);
    expect(Array.from(b.mask)).toEqual([1, 1, 1, 0]);
    expect(Array.from(b.lastIndex)).toEqual([1, 0]);
  });
  it('pads on the left without shifting (scoring whole sequences)', () => {
    const b = collate([{ ids: [5, 6, 7], loss: [0, 1, 1] }, { ids: [8], loss: [1] }], 0, { side: 'left', shift: false });
    expect(b.T).toBe(3);
    expect(Array.from(b.ids)).toEqual([5, 6, 7, 0, 0, 8]);
    expect(Array.from(b.mask)).toEqual([1, 1, 1, 0, 0, 1]);
    expect(Array.from(b.lastIndex)).toEqual([2, 2]);
  });
  it('packed rows never predict across an example boundary', () => {
    const packed = packRows(
      [
        { ids: [1, 2, 3], loss: [0, 1, 1] },
        { ids: [4, 5], loss: [0, 1] },
        { ids: [6, 7, 8], loss: [0, 1, 1] },
      ],
      6,
    );
    expect(packed.map((r) => r.ids)).toEqual([[1, 2, 3, 4, 5], [6, 7, 8]]);
    expect(packed[0].segments).toEqual([0, 0, 0, 1, 1]);
    const b = collate(packed, 0);
    // positions: 1→2 ✓, 2→3 ✓, 3→4 ✗ (boundary), 4→5 ✓
    expect(Array.from(b.targetsMask.slice(0, 4))).toEqual([1, 1, 0, 1]);
  });
});
