// A small seeded PRNG (mulberry32) for everything random on the JS side: initialisation, dropout
// seeds, sampling. Same seed ⇒ same stream on every backend.

export interface RngState {
  s: number;
  spare: number | null;
}

/** Seeded pseudo-random stream. Not cryptographic; fast and reproducible. */
export class Rng {
  private s: number;
  private spare: number | undefined;

  constructor(seed: number) {
    // Mix the seed so nearby seeds give unrelated streams.
    this.s = hash32(Math.floor(seed) >>> 0);
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** A fresh 31-bit seed for a tf op that takes one (tf.dropout, tf.randomUniform...). */
  seed(): number {
    return Math.floor(this.next() * 0x7fffffff);
  }

  /** An independent child stream (e.g. one per purpose), derived from this one. */
  fork(): Rng {
    return new Rng(this.seed());
  }

  /** The stream's position, to save in a checkpoint and continue later with `restore`. */
  state(): RngState {
    return { s: this.s, spare: this.spare ?? null };
  }

  restore(st: RngState): void {
    this.s = st.s >>> 0;
    this.spare = st.spare ?? undefined;
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
}

function hash32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}
