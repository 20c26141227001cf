// Seeded shuffling and train/validation splits (deterministic for a given seed).

import seedrandom from 'seedrandom';

/** A new array with the elements of `items` in a seeded random order (Fisher–Yates). */
export function shuffle<T>(items: readonly T[], seed: number | string): T[] {
  const rng = seedrandom(String(seed));
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}

export interface SplitOptions {
  /** Fraction of records held out for validation, in [0, 1). */
  validation: number;
  seed: number | string;
}

/**
 * Split records into train and validation. The held-out set is a seeded random choice of
 * round(fraction × n) records (at least 1 when the fraction is positive and n ≥ 2); both parts keep the
 * original order. Same records + same seed → same split.
 */
export function splitDataset<T>(records: readonly T[], opts: SplitOptions): { train: T[]; validation: T[] } {
  const f = opts.validation;
  if (!(f >= 0 && f < 1)) throw new RangeError(`validation fraction must be in [0, 1), got ${f}`);
  const n = records.length;
  let nVal = Math.round(f * n);
  if (f > 0 && nVal === 0 && n >= 2) nVal = 1;
  if (nVal >= n) nVal = Math.max(0, n - 1);
  const held = new Set(shuffle([...Array(n).keys()], opts.seed).slice(0, nVal));
  const train: T[] = [];
  const validation: T[] = [];
  records.forEach((r, i) => (held.has(i) ? validation : train).push(r));
  return { train, validation };
}
