// `rlhfc verify`: check a whole artifact store without running anything (and without TensorFlow.js).
//
//   nodes/<hash>/           node.json valid and for this hash; every artifact file present with the size
//                           and sha256 recorded when the stage committed; no file added
//   checkpoints/<hash>/     the latest checkpoint's state.json valid, its files matching their sha256
//   runs/<id>/              run.json and plan.json valid (damage there loses history, never results)
//   layout                  nodes/, tmp/, checkpoints/, runs/ are folders; the lock is a pid or absent
//
// Problems are listed with what `rlhfc run` will do about them; exit 1 when a result or checkpoint is damaged.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../core/diagnostics.ts';
import { ArtifactStore, latestCheckpoint, sha256File } from './store.ts';
import { readJsonSync } from './validate/files.ts';
import { CheckpointStateSchema, RunRecordSchema, SavedPlanSchema } from './validate/schemas.ts';

export interface VerifyProblem {
  path: string;
  problem: string;
  /** What happens next / what to do. */
  action: string;
  /** Damage to results or checkpoints (exit 1), rather than to history (runs/). */
  serious: boolean;
}

export interface VerifyReport {
  nodes: number;
  bytes: number;
  checkpoints: number;
  runs: number;
  problems: VerifyProblem[];
}

const isDir = (p: string) => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

const why = (e: unknown, path: string) => {
  if (!(e instanceof UserError)) throw e;
  const d = e.diagnostics[0];
  const m = d.message.startsWith(path) ? d.message.slice(path.length + 2) : d.message;
  return d.notes?.length ? `${m} (${d.notes[0]})` : m;
};

export function verifyStore(root: string): VerifyReport {
  const store = new ArtifactStore(root);
  const report: VerifyReport = { nodes: 0, bytes: 0, checkpoints: 0, runs: 0, problems: [] };
  const problem = (path: string, p: string, action: string, serious = true) => report.problems.push({ path, problem: p, action, serious });
  try {
    store.checkLayout();
  } catch (e) {
    problem(root, why(e, root), 'move the file away; rlhfc recreates the folder');
    return report;
  }
  const nodes = join(root, 'nodes');
  if (isDir(nodes)) {
    for (const h of readdirSync(nodes).sort()) {
      if (h.includes('.')) continue; // set-aside damaged results
      const dir = join(nodes, h);
      if (!isDir(dir)) {
        problem(dir, 'not a folder', 'remove it');
        continue;
      }
      if (!existsSync(join(dir, 'node.json'))) continue; // never finished: not a result
      report.nodes++;
      const c = store.verifyNode(h);
      if (c.ok) report.bytes += Object.values(c.record.files ?? {}).reduce((s, f) => s + f.bytes, 0);
      else problem(dir, c.problem, '`rlhfc run` sets it aside and reruns the stage');
    }
  }
  const cks = join(root, 'checkpoints');
  if (isDir(cks)) {
    for (const h of readdirSync(cks).sort()) {
      const ck = latestCheckpoint(join(cks, h));
      if (!ck) continue;
      report.checkpoints++;
      const state = join(ck, 'state.json');
      try {
        const s = readJsonSync(state, CheckpointStateSchema, { what: 'checkpoint state' });
        for (const [f, want] of Object.entries(s.files ?? {})) {
          const p = join(ck, f);
          if (!existsSync(p) || statSync(p).size !== want.bytes || sha256File(p) !== want.sha256) {
            problem(ck, `${f} does not match the sha256 recorded when the checkpoint was saved`, 'the stage sets it aside with a warning and restarts from step 0');
            break;
          }
        }
      } catch (e) {
        problem(ck, why(e, state), 'the stage sets it aside with a warning and restarts from step 0');
      }
    }
  }
  const runs = join(root, 'runs');
  if (isDir(runs)) {
    for (const id of readdirSync(runs).sort()) {
      report.runs++;
      const files: [string, import('zod').ZodType, string][] = [
        ['run.json', RunRecordSchema, 'run record'],
        ['plan.json', SavedPlanSchema, 'saved plan'],
      ];
      for (const [f, schema, what] of files) {
        const p = join(runs, id, f);
        if (!existsSync(p)) continue;
        try {
          readJsonSync(p, schema, { what });
        } catch (e) {
          problem(p, why(e, p), 'only this run\'s history is affected (`rlhfc runs`, `rlhfc report`); results are not', false);
        }
      }
    }
  }
  return report;
}
