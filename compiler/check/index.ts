// Check phase: every declaration's parameters against its schema, references bound to declarations
// and stage outputs with their artifact types, architecture facts carried along the graph, and each
// schema's cross-field rules. Produces typed nodes (plain data) for the plan phase. One file per
// reason to change:
//   settings.ts  top-level settings            sources.ts  source declarations and constructor calls
//   stages.ts    stage declarations            tree.ts     parameter trees (unknown, missing, defaults)
//   values.ts    one value's type/range/enum   bind.ts     references → edges (resolve's RLHF2xxx codes)
//   rules.ts     cross-field rules and facts   files.ts    local files: existence, hashes, hooks
//   context.ts   the shared state and node types

import { dirname, resolve as resolvePath } from 'node:path';
import type { Diagnostic } from '../../core/diagnostics.ts';
import type { Resolved } from '../resolve.ts';
import type { CheckContext, Checked } from './context.ts';
import { checkSettings } from './settings.ts';
import { checkConstructor, checkSource } from './sources.ts';
import { checkStage } from './stages.ts';

export type { Checked, CheckedInput, CheckedNode } from './context.ts';

export function check(res: Resolved, mainPath: string): Checked {
  const ds: Diagnostic[] = [];
  const ctx: CheckContext = {
    res,
    mainDir: dirname(resolvePath(mainPath)),
    ds,
    nodes: new Map(),
    order: 0,
    inProgress: [],
    stageByName: new Map(res.stages.map((s) => [s.decl.name.name, s])),
    stageDone: new Map(),
    sourceDone: new Map(),
    stage: (s) => checkStage(ctx, s),
    source: (d) => checkSource(ctx, d),
    construct: (...a) => checkConstructor(ctx, ...a),
  };
  const settings = checkSettings(ctx);
  for (const d of res.sources) checkSource(ctx, d);
  for (const s of res.stages) checkStage(ctx, s);
  return { nodes: [...ctx.nodes.values()].sort((a, b) => a.order - b.order), settings, diagnostics: ds };
}
