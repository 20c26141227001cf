// Writes the two-digit addition data of examples/verifiable.rlhf: `npx tsx scripts/make-addition.ts`.
//
// Every problem is "a+b=" with a, b in 10..99 and the answer the decimal sum. The unordered pairs
// {a, b} are shuffled with a fixed seed (SEED below) and cut in two: the first HELD_OUT pairs are the
// held-out problems, the next TRAIN pairs the training problems. Because the cut is made on unordered
// pairs, no held-out problem appears in training in either order ("47+38=" and "38+47=" land on the
// same side). Each pair is then written in one seeded random order. Same seed → byte-identical files.
//   examples/data/addition-train.jsonl  {"prompt":"47+38=","response":"85","text":"47+38=85"}
//   examples/data/addition-test.jsonl   the same fields, held out (never trained on)
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import seedrandom from 'seedrandom';

export const SEED = 'rlhfc-addition-1';
export const TRAIN = 3000;
export const HELD_OUT = 500;

export interface Problem {
  prompt: string;
  response: string;
  text: string;
}

function problem(a: number, b: number): Problem {
  const prompt = `${a}+${b}=`;
  const response = String(a + b);
  return { prompt, response, text: prompt + response };
}

/** The training and held-out problems, a pure function of the seed. */
export function makeAddition(seed = SEED, train = TRAIN, heldOut = HELD_OUT): { train: Problem[]; test: Problem[] } {
  const rng = seedrandom(seed);
  const pairs: [number, number][] = [];
  for (let a = 10; a <= 99; a++) for (let b = a; b <= 99; b++) pairs.push([a, b]);
  if (train + heldOut > pairs.length) throw new RangeError(`only ${pairs.length} unordered pairs`);
  for (let i = pairs.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [pairs[i], pairs[j]] = [pairs[j], pairs[i]];
  }
  const order = ([a, b]: [number, number]) => (rng() < 0.5 ? problem(a, b) : problem(b, a));
  const test = pairs.slice(0, heldOut).map(order);
  return { train: pairs.slice(heldOut, heldOut + train).map(order), test };
}

export const jsonl = (rows: Problem[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { train, test } = makeAddition();
  const dir = fileURLToPath(new URL('../examples/data/', import.meta.url));
  writeFileSync(`${dir}addition-train.jsonl`, jsonl(train));
  writeFileSync(`${dir}addition-test.jsonl`, jsonl(test));
  process.stdout.write(`wrote ${train.length} training and ${test.length} held-out problems to ${dir} (seed ${JSON.stringify(SEED)})\n`);
}
