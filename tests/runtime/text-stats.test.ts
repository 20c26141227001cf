// Degeneration statistics (runtime/text-stats.ts) against values counted by hand.
import { describe, expect, it } from 'vitest';
import { degenerationStats, distinctN, hackingFlags, quantile, repetitionRate, words } from '../../runtime/text-stats.ts';

const SAMPLE = ['great great great', 'a fine  day', ''];

describe('degeneration statistics', () => {
  it('count words as runs of non-space', () => {
    expect(words('  a fine\tday\n')).toEqual(['a', 'fine', 'day']);
  });
  it('distinct-n over all responses', () => {
    // unigrams: great ×3, a, fine, day → 4 of 6; bigrams: "great great" ×2, "a fine", "fine day" → 3 of 4
    expect(distinctN(SAMPLE, 1)).toBeCloseTo(4 / 6, 12);
    expect(distinctN(SAMPLE, 2)).toBeCloseTo(3 / 4, 12);
    expect(distinctN(['Great', 'great'], 1)).toBe(0.5); // compared lower-cased
    expect(distinctN(['', 'one'], 2)).toBe(0);
  });
  it('repetition within a response, averaged over responses with a bigram', () => {
    // "great great great": 2 bigrams, 1 distinct → 0.5; "a fine day": 0; "" has none → (0.5 + 0) / 2
    expect(repetitionRate(SAMPLE)).toBeCloseTo(0.25, 12);
    expect(repetitionRate(['', 'x'])).toBe(0);
  });
  it('quantiles interpolate between ranks', () => {
    expect(quantile([0, 3, 3], 0.1)).toBeCloseTo(0.6, 12);
    expect(quantile([0, 3, 3], 0.5)).toBe(3);
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(Number.isNaN(quantile([], 0.5))).toBe(true);
  });
  it('summarise lengths, empty responses and diversity', () => {
    const s = degenerationStats(SAMPLE, [4, 5, 1]);
    expect(s.responses).toBe(3);
    expect(s.words).toEqual({ mean: 2, p10: expect.closeTo(0.6, 12), p50: 3, p90: 3, max: 3 });
    expect(s.tokens!.mean).toBe(10 / 3);
    expect(s.empty_rate).toBeCloseTo(1 / 3, 12);
    expect(s.distinct_2).toBeCloseTo(0.75, 12);
    expect(s.repetition_2).toBeCloseTo(0.25, 12);
  });
  it('flag a model whose diversity fell more than 0.1 or whose length moved more than 30%', () => {
    const model = degenerationStats(SAMPLE);
    const reference = { ...model, distinct_2: 0.9, words: { ...model.words, mean: 3 } };
    expect(hackingFlags(model, reference)).toEqual([
      "distinct-2 0.75 is 0.15 below the reference's 0.90",
      "mean length 2.0 words is -33% from the reference's 3.0",
    ]);
    // within bounds: 0.05 lower and 20% longer
    expect(hackingFlags({ ...model, distinct_2: 0.85, words: { ...model.words, mean: 3.6 } }, reference)).toEqual([]);
    expect(hackingFlags(model, model)).toEqual([]);
  });
});
