// Judges score (prompt, response) pairs: built-in rule judges, users' TypeScript functions, and
// (in the stages) reward models. Rule judges are deterministic and need no model.

import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UserError, diag } from '../../compiler/diagnostics.ts';
import type { ResolvedParams } from '../stages/schema.ts';

export interface Judge {
  name: string;
  score(prompts: string[], responses: string[]): Promise<number[]>;
}

const require = createRequire(import.meta.url);

const words = (s: string) => s.toLowerCase().match(/[a-z0-9']+/g) ?? [];

/** VADER compound sentiment of the response, in [−1, 1]. */
export function vaderJudge(): Judge {
  const { SentimentIntensityAnalyzer } = require('vader-sentiment') as { SentimentIntensityAnalyzer: { polarity_scores(s: string): { compound: number } } };
  return { name: 'vader()', score: async (_p, rs) => rs.map((r) => SentimentIntensityAnalyzer.polarity_scores(r).compound) };
}

/** AFINN comparative sentiment of the response (the `sentiment` package): score per word. */
export function afinnJudge(): Judge {
  const Sentiment = require('sentiment') as new () => { analyze(s: string): { comparative: number } };
  const s = new Sentiment();
  return { name: 'afinn()', score: async (_p, rs) => rs.map((r) => s.analyze(r).comparative) };
}

/** Word count, or −|count − target| when target > 0. */
export function lengthJudge(target: number): Judge {
  return { name: `length(${target})`, score: async (_p, rs) => rs.map((r) => (target > 0 ? -Math.abs(words(r).length - target) : words(r).length)) };
}

/** Fraction of the response's words that are in the list. */
export function wordsJudge(list: string[]): Judge {
  const set = new Set(list.map((w) => w.toLowerCase()));
  return {
    name: `words([${list.length} words])`,
    score: async (_p, rs) =>
      rs.map((r) => {
        const ws = words(r);
        return ws.length ? ws.filter((w) => set.has(w)).length / ws.length : 0;
      }),
  };
}

type UserFn = (prompt: string, response: string) => number | Promise<number>;

/** A user's exported TypeScript/JavaScript function, `ref` = "path/to/file.ts#exportName" relative to baseDir. */
export async function userJudge(ref: string, baseDir: string): Promise<Judge> {
  const [file, name] = ref.split('#');
  const path = resolve(baseDir, file);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (e) {
    throw new UserError([diag('RLHF9002', `cannot load judge ${ref}: ${(e as Error).message}`)]);
  }
  const fn = mod[name];
  if (typeof fn !== 'function') throw new UserError([diag('RLHF9002', `judge ${ref}: '${name}' is not an exported function of ${file}`)]);
  return {
    name: `fn(${ref})`,
    async score(prompts, responses) {
      const out: number[] = [];
      for (let i = 0; i < responses.length; i++) {
        let v: unknown;
        try {
          v = await (fn as UserFn)(prompts[i], responses[i]);
        } catch (e) {
          throw new UserError([diag('RLHF9002', `judge ${ref} threw on response ${JSON.stringify(responses[i].slice(0, 80))}: ${(e as Error).message}`)]);
        }
        if (typeof v !== 'number' || !Number.isFinite(v)) {
          throw new UserError([diag('RLHF9002', `judge ${ref} returned ${String(v)} (not a finite number) for response ${JSON.stringify(responses[i].slice(0, 80))}`)]);
        }
        out.push(v);
      }
      return out;
    },
  };
}

/** Build a rule or user judge from its constructor name and resolved args (see runtime/sources.ts JUDGE_SOURCES). */
export async function makeJudge(constructor: string, args: ResolvedParams, baseDir: string): Promise<Judge> {
  switch (constructor) {
    case 'vader':
      return vaderJudge();
    case 'afinn':
      return afinnJudge();
    case 'length':
      return lengthJudge((args['target'] as number) ?? 0);
    case 'words':
      return wordsJudge((args['list'] as string[]) ?? []);
    case 'fn':
      return userJudge(String(args['ref']), baseDir);
    default:
      throw new Error(`unknown judge constructor '${constructor}'`);
  }
}
