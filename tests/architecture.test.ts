// The layering of ARCHITECTURE.md, held against the code: every import (static, dynamic, type-only)
// of every product file points to its own layer or a lower one. The layers are read from the
// ```layers block of ARCHITECTURE.md, so the page and this check cannot disagree.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');

interface Layer {
  level: number;
  /** Groups on the same level must not import each other (`|` in the block). */
  groups: string[][];
}

/** The ```layers block: one line per level, highest first: `N  prefix prefix | prefix ...`. */
export function readLayers(markdown: string): Layer[] {
  const m = /```layers\n([\s\S]*?)```/.exec(markdown);
  if (!m) throw new Error('ARCHITECTURE.md has no ```layers block');
  return m[1]
    .trim()
    .split('\n')
    .map((line) => {
      const [level, ...rest] = line.trim().split(/\s+/);
      const groups = rest.join(' ').split('|').map((g) => g.trim().split(/\s+/).filter(Boolean));
      return { level: Number(level), groups };
    });
}

/** Where a file sits: its level and group, by the longest matching prefix. */
function placeOf(layers: Layer[], file: string): { level: number; group: string } | undefined {
  let best: { level: number; group: string; len: number } | undefined;
  for (const l of layers) {
    for (const g of l.groups) {
      for (const prefix of g) {
        const hit = prefix.endsWith('/') ? file.startsWith(prefix) : file === prefix;
        if (hit && (!best || prefix.length > best.len)) best = { level: l.level, group: g.join(' '), len: prefix.length };
      }
    }
  }
  return best && { level: best.level, group: best.group };
}

const PRODUCT = ['core', 'grammar', 'compiler', 'runtime', 'cli', 'bin', 'bench', 'scripts'];

function productFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(join(ROOT, dir))) {
      const rel = join(dir, name);
      if (name === 'node_modules' || name === 'build') continue;
      if (statSync(join(ROOT, rel)).isDirectory()) walk(rel);
      else if (/\.(ts|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.push(rel);
    }
  };
  for (const d of PRODUCT) walk(d);
  return out.sort();
}

/** Relative imports of a file (import/export from, import(), import type), as repository paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.map((f) => f.fileName)
    .filter((s) => s.startsWith('.'))
    .map((s) => normalize(join(dirname(file), s)));
}

export function backEdges(layers: Layer[]): { from: string; to: string; why: string }[] {
  const out: { from: string; to: string; why: string }[] = [];
  for (const file of productFiles()) {
    const a = placeOf(layers, file)!;
    for (const target of importsOf(file)) {
      const b = placeOf(layers, target);
      if (!b) continue; // reported by the test below
      if (b.level > a.level) out.push({ from: file, to: target, why: `level ${a.level} imports level ${b.level}` });
      else if (b.level === a.level && b.group !== a.group) out.push({ from: file, to: target, why: `'${a.group}' imports its sibling '${b.group}'` });
    }
  }
  return out;
}

describe('import graph', () => {
  const layers = readLayers(readFileSync(join(ROOT, 'ARCHITECTURE.md'), 'utf8'));

  it('places every product file in a layer of ARCHITECTURE.md', () => {
    const unplaced = productFiles().filter((f) => !placeOf(layers, f));
    expect(unplaced).toEqual([]);
  });

  it('has every relative import pointing at a file that exists (so the check reads real edges)', () => {
    const missing = productFiles().flatMap((f) => importsOf(f).filter((t) => !statSync(join(ROOT, t), { throwIfNoEntry: false })).map((t) => `${f} -> ${t}`));
    expect(missing).toEqual([]);
  });

  it('has no import from a lower layer into a higher one, nor between siblings', () => {
    const edges = backEdges(layers).map((e) => `${e.from} -> ${e.to} (${e.why})`);
    expect(edges).toEqual([]);
  });

  it('sees a back-edge when there is one (the check can fail)', () => {
    // core at the bottom importing the CLI at the top must be reported.
    const fake: Layer[] = [
      { level: 2, groups: [['cli/']] },
      { level: 1, groups: [['core/']] },
    ];
    expect(placeOf(fake, 'core/diagnostics.ts')?.level).toBe(1);
    expect(placeOf(fake, relative(ROOT, join(ROOT, 'cli/main.ts')))?.level).toBe(2);
    expect(importsOf('cli/main.ts').some((t) => t.startsWith('core/'))).toBe(true);
    const reversed: Layer[] = [
      { level: 2, groups: [['core/']] },
      { level: 1, groups: [['cli/', 'grammar/', 'compiler/', 'runtime/', 'bin/', 'bench/', 'scripts/']] },
    ];
    expect(backEdges(reversed).some((e) => e.from.startsWith('cli/') && e.to.startsWith('core/'))).toBe(true);
  });
});
