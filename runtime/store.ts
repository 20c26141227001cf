// The artifact store: a content-addressed folder (default `.rlhfc/` beside the spec; a store left
// under the old name `.rlhf/` is still used when no `.rlhfc/` exists).
//
//   <store>/nodes/<hash>/                 a finished node's outputs (renamed into place when complete)
//   <store>/nodes/<hash>/node.json        what produced it (spec, id, kind, params, input hashes, metrics)
//   <store>/tmp/<hash>.<pid>.<n>/         work in progress; never read as finished
//   <store>/checkpoints/<hash>/ckpt/      the latest resumable checkpoint of an unfinished stage
//   <store>/runs/<run id>/                one folder per `rlhfc run`: run.json, plan.json, log.txt, metrics.jsonl
//
// A node is finished iff its folder exists under nodes/ and holds node.json: the folder only gets
// there by an atomic rename of a complete temp folder, so a crash never leaves a half-written
// artifact that looks done. Nothing here loads TensorFlow.js: `rlhfc compile` reads the store too.

import { createHash } from 'node:crypto';
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type { Plan, PlanNode } from '../core/plan-types.ts';
import { UserError, diag } from '../core/diagnostics.ts';
import { readJsonSync } from './validate/files.ts';
import { CheckpointStateSchema, NodeRecordSchema, RunRecordSchema, SavedPlanSchema } from './validate/schemas.ts';

export const CHECKPOINT_FORMAT = 'rlhfc-checkpoint';

export interface NodeRecord {
  id: string;
  kind: string;
  hash: string;
  params: unknown;
  metrics: Record<string, unknown>;
  seconds: number;
  /** The spec that produced it (relative to the store's parent), its name, input hashes, seed and compiler. */
  spec?: string;
  name?: string;
  inputs?: Record<string, string>;
  seed?: number;
  compiler?: string;
  finishedAt?: string;
  /** Every artifact file (relative path → size and sha256), recorded at commit; verified before reuse. */
  files?: Record<string, { bytes: number; sha256: string }>;
}

/** What `verifyNode` found: a finished node whose files match its record, or why not. */
export type NodeCheck = { ok: true; record: NodeRecord } | { ok: false; problem: string };

export interface RunStageRecord {
  id: string;
  name: string;
  kind: string;
  hash?: string;
  status: string;
  seconds: number;
  /** Peak resident memory while the stage ran, MB (runner.ts `stagePeakRss`); absent for cached and skipped stages. */
  peakRssMB?: number;
  headline: string;
}

export interface RunRecord {
  id: string;
  spec: string;
  pid: number;
  started: string;
  ended?: string;
  /** running (or killed, when its process is gone), ok, failed, interrupted. */
  status: 'running' | 'ok' | 'failed' | 'interrupted';
  backend?: string;
  seed: number;
  argv: string[];
  stages: RunStageRecord[];
  error?: string;
}

/** The store's folder name when a spec does not set `artifacts`: named after the tool, as `.terraform/` sits beside `*.tf`. */
export const DEFAULT_STORE = '.rlhfc';
/** The store's name before 0.2 (the file extension, so a folder that looked like a spec); still used when found and no new one exists. */
export const LEGACY_STORE = '.rlhf';

/**
 * The store folder in `parent` when none is named: `.rlhfc/`, or an existing store under the old
 * name `.rlhf/` when there is no `.rlhfc/` yet (so its cached results are kept).
 */
export function defaultStoreIn(parent: string): string {
  const dir = resolve(parent, DEFAULT_STORE);
  const legacy = resolve(parent, LEGACY_STORE);
  if (!existsSync(dir) && isDirectory(legacy) && ['nodes', 'runs', 'checkpoints'].some((d) => existsSync(join(legacy, d)))) return legacy;
  return dir;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The store folder of a spec: `--store` (relative to the working folder), else its `artifacts` setting (relative to the spec). */
export function storeDirOf(plan: Plan, specPath: string, override?: string): string {
  if (override) return resolve(override);
  const specDir = dirname(resolve(specPath));
  const named = String(plan.settings['artifacts'] ?? DEFAULT_STORE);
  return named === DEFAULT_STORE ? defaultStoreIn(specDir) : resolve(specDir, named);
}

/** What node.json records about a node: enough for `rlhfc compile` to say why it would rerun. */
export function nodeRecord(plan: Plan, node: PlanNode, storeDir: string, metrics: Record<string, unknown>, seconds: number): NodeRecord {
  const hashes = new Map(plan.nodes.map((n) => [n.id, n.hash]));
  return {
    id: node.id,
    name: node.name,
    kind: node.kind,
    hash: node.hash,
    spec: specKey(plan.spec, storeDir),
    params: node.params,
    inputs: Object.fromEntries(Object.entries(node.inputs).map(([k, b]) => [k, hashes.get(b.node) ?? ''])),
    seed: plan.seed,
    compiler: plan.compiler,
    metrics,
    seconds,
  };
}

/** A spec's name as the store knows it: its path relative to the store's parent folder. */
export function specKey(spec: string, storeDir: string): string {
  return relative(dirname(storeDir), resolve(spec)).split('\\').join('/');
}

let tmpCounter = 0;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Bytes under a path (files and folders). */
export function diskUsage(path: string): number {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((s, f) => s + diskUsage(join(path, f)), 0);
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

/**
 * The newest complete checkpoint under `dir`: `ckpt`, or — when a kill landed between the two
 * renames of an atomic replace — the `ckpt.old-*` it was replacing.
 */
export function latestCheckpoint(dir: string): string | undefined {
  const main = join(dir, 'ckpt');
  if (existsSync(join(main, 'state.json'))) return main;
  if (!isDir(dir)) return undefined;
  const olds = readdirSync(dir)
    .filter((f) => f.startsWith('ckpt.old-') && existsSync(join(dir, f, 'state.json')))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return olds[0];
}

export interface GcEntry {
  path: string;
  what: string;
  bytes: number;
}

export class ArtifactStore {
  constructor(public readonly root: string) {}

  exists(): boolean {
    return existsSync(this.root);
  }

  nodeDir(hash: string): string {
    return join(this.root, 'nodes', hash);
  }

  isFinished(hash: string): boolean {
    return existsSync(join(this.nodeDir(hash), 'node.json'));
  }

  /** A finished node's record, validated; undefined when absent or damaged (see `verifyNode`). */
  record(hash: string): NodeRecord | undefined {
    const p = join(this.nodeDir(hash), 'node.json');
    if (!existsSync(p)) return undefined;
    try {
      return readJsonSync(p, NodeRecordSchema, { what: 'node record' }) as NodeRecord;
    } catch (e) {
      if (e instanceof UserError) return undefined;
      throw e;
    }
  }

  /** Every finished node's readable record (damaged ones are skipped: `rlhfc verify` reports them). */
  records(): NodeRecord[] {
    const dir = join(this.root, 'nodes');
    if (!isDir(dir)) return [];
    return readdirSync(dir).flatMap((h) => {
      if (h.includes('.')) return []; // set-aside damaged results (<hash>.corrupt-<time>)
      const r = this.record(h);
      return r ? [r] : [];
    });
  }

  /**
   * Check a finished node against its record: node.json valid and for this hash, and every artifact
   * file present with the size and sha256 recorded at commit (no file missing, none added). A record
   * without digests (written before rlhfc recorded them) is checked for its files' presence only.
   */
  verifyNode(hash: string): NodeCheck {
    const dir = this.nodeDir(hash);
    const p = join(dir, 'node.json');
    let record: NodeRecord;
    try {
      record = readJsonSync(p, NodeRecordSchema, { what: 'node record' }) as NodeRecord;
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      return { ok: false, problem: e.diagnostics[0].message.slice(p.length + 2) + (e.diagnostics[0].notes ? ` (${e.diagnostics[0].notes[0]})` : '') };
    }
    if (record.hash !== hash) return { ok: false, problem: `node.json is for ${record.hash.slice(0, 12)}, not this folder's hash` };
    if (!record.files) return { ok: true, record };
    let present: Map<string, number>;
    try {
      present = listFiles(dir);
    } catch (e) {
      return { ok: false, problem: `cannot list the folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
    }
    present.delete('node.json');
    for (const [rel, want] of Object.entries(record.files)) {
      const size = present.get(rel);
      if (size === undefined) return { ok: false, problem: `${rel} is missing` };
      if (size < 0) return { ok: false, problem: `${rel} is no longer a regular file (a link, FIFO or device)` };
      if (size !== want.bytes) return { ok: false, problem: `${rel} is ${size} bytes, ${want.bytes} were written` };
      if (sha256File(join(dir, rel)) !== want.sha256) return { ok: false, problem: `${rel} does not match the sha256 recorded when the stage finished (its bytes changed)` };
      present.delete(rel);
    }
    if (present.size) return { ok: false, problem: `${[...present.keys()][0]} was not part of the stage's result` };
    return { ok: true, record };
  }

  private readonly intact = new Set<string>();

  /**
   * Whether a finished node can be reused: finished and intact (verified once per store object). A
   * damaged one is set aside, `warn` is told why, and it counts as not finished, so it reruns.
   */
  reusable(hash: string, warn: (problem: string, setAsideAt: string) => void): boolean {
    if (this.intact.has(hash)) return true;
    if (!this.isFinished(hash)) return false;
    const c = this.verifyNode(hash);
    if (c.ok) {
      this.intact.add(hash);
      return true;
    }
    warn(c.problem, this.setAside(hash));
    return false;
  }

  /** Move a damaged finished node out of the way (kept as nodes/<hash>.corrupt-<time> for inspection) so it reruns. */
  setAside(hash: string): string {
    const dest = `${this.nodeDir(hash)}.corrupt-${Date.now()}`;
    renameSync(this.nodeDir(hash), dest);
    return dest;
  }

  /** A fresh temp folder for a node's work in progress. */
  beginNode(hash: string): string {
    const dir = join(this.root, 'tmp', `${hash}.${process.pid}.${tmpCounter++}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** Write node.json into the temp folder and move it into place atomically; drop its checkpoint. */
  commitNode(tmpDir: string, rec: NodeRecord): string {
    // The size and sha256 of every artifact file, so later runs can tell a damaged result from a good one.
    const files: NodeRecord['files'] = {};
    for (const [rel, bytes] of [...listFiles(tmpDir)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (rel !== 'node.json') files[rel] = { bytes, sha256: sha256File(join(tmpDir, rel)) };
    }
    writeFileSync(join(tmpDir, 'node.json'), JSON.stringify({ ...rec, finishedAt: new Date().toISOString(), files }, null, 2) + '\n');
    const dest = this.nodeDir(rec.hash);
    mkdirSync(join(this.root, 'nodes'), { recursive: true });
    // A stale, unfinished folder under the final name (should not happen) is removed first.
    if (existsSync(dest) && !this.isFinished(rec.hash)) rmSync(dest, { recursive: true, force: true });
    if (this.isFinished(rec.hash)) {
      // Finished meanwhile by another process (same hash, same result): keep the first.
      rmSync(tmpDir, { recursive: true, force: true });
      return dest;
    }
    renameSync(tmpDir, dest);
    rmSync(this.checkpointDir(rec.hash), { recursive: true, force: true });
    return dest;
  }

  /** Drop a temp folder (a stage that failed or was interrupted; its checkpoint stays). */
  abandon(tmpDir: string): void {
    rmSync(tmpDir, { recursive: true, force: true });
  }

  /** Remove a node's finished artifacts and checkpoint (used by --force). */
  invalidate(hash: string): void {
    rmSync(this.nodeDir(hash), { recursive: true, force: true });
    rmSync(this.checkpointDir(hash), { recursive: true, force: true });
  }

  checkpointDir(hash: string): string {
    return join(this.root, 'checkpoints', hash);
  }

  /** The step and time of a node's resumable checkpoint, if it has one. */
  checkpointInfo(hash: string): { step: number; savedAt: string } | undefined {
    const d = latestCheckpoint(this.checkpointDir(hash));
    if (!d) return undefined;
    try {
      const f = readJsonSync(join(d, 'state.json'), CheckpointStateSchema, { what: 'checkpoint state' });
      return { step: f.step, savedAt: f.savedAt };
    } catch {
      return undefined; // a damaged checkpoint is set aside by the stage when it starts
    }
  }

  /** The store's folders must be folders: a file in their place is damage the user must clear (UserError). */
  checkLayout(): void {
    for (const sub of ['nodes', 'tmp', 'checkpoints', 'runs']) {
      const p = join(this.root, sub);
      let st;
      try {
        st = statSync(p);
      } catch {
        continue;
      }
      if (!st.isDirectory()) {
        throw new UserError([
          diag('RLHF9005', `the artifact store ${this.root} is damaged: ${p} is not a folder`, undefined, { notes: [`move ${p} away (or delete it); rlhfc recreates the folder and reruns what it needs`] }),
        ]);
      }
    }
  }

  // ---- lock ----------------------------------------------------------------------------------

  /**
   * Take the store for this process (`<store>/lock` holds its pid), so that two runs never train
   * the same stage into the same folders at once. A lock whose process is gone (killed) is taken
   * over. Returns the release function; throws StoreBusy when a live process holds it.
   */
  lock(): () => void {
    mkdirSync(this.root, { recursive: true });
    this.checkLayout();
    const path = join(this.root, 'lock');
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        writeFileSync(path, `${process.pid}\n`, { flag: 'wx' });
        return () => {
          try {
            if (readFileSync(path, 'utf8').trim() === String(process.pid)) rmSync(path, { force: true });
          } catch {
            // already gone
          }
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        let text: string;
        try {
          if (!statSync(path).isFile()) {
            rmSync(path, { recursive: true, force: true }); // not a lock file at all
            continue;
          }
          text = readFileSync(path, 'utf8');
        } catch {
          continue; // released in between: try again
        }
        // Only a positive pid of a live process holds the store; an empty or garbage lock (a crash
        // while writing it, a damaged store) is stale and taken over.
        const holder = /^\s*[1-9][0-9]{0,9}\s*$/.test(text) ? Number(text) : NaN;
        if (Number.isInteger(holder) && holder !== process.pid && pidAlive(holder)) throw new StoreBusy(this.root, holder);
        rmSync(path, { force: true }); // a killed run's lock
      }
    }
    throw new StoreBusy(this.root, NaN);
  }

  // ---- runs ----------------------------------------------------------------------------------

  runDir(id: string): string {
    return join(this.root, 'runs', id);
  }

  /** Start a run record: runs/<id>/ with run.json and plan.json. */
  beginRun(rec: Omit<RunRecord, 'id' | 'pid' | 'started' | 'status' | 'stages'>, plan: unknown): RunRecord {
    const now = new Date();
    const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
    let id = `${stamp}-${process.pid}`;
    for (let k = 2; existsSync(this.runDir(id)); k++) id = `${stamp}-${process.pid}-${k}`;
    const run: RunRecord = { ...rec, id, pid: process.pid, started: now.toISOString(), status: 'running', stages: [] };
    mkdirSync(this.runDir(id), { recursive: true });
    writeFileAtomic(join(this.runDir(id), 'plan.json'), JSON.stringify(plan, null, 1) + '\n');
    this.saveRun(run);
    return run;
  }

  saveRun(run: RunRecord): void {
    writeFileAtomic(join(this.runDir(run.id), 'run.json'), JSON.stringify(run, null, 2) + '\n');
  }

  /** Append a line to a run's log. */
  runLog(id: string, line: string): void {
    try {
      appendFileSync(join(this.runDir(id), 'log.txt'), line + '\n');
    } catch {
      // the log is a convenience; a full disk is reported by the stage that hits it
    }
  }

  /** Past runs, newest first; a `running` run whose process is gone is reported as `killed`. */
  runs(): (RunRecord & { shownStatus: string })[] {
    const dir = join(this.root, 'runs');
    if (!isDir(dir)) return [];
    return readdirSync(dir)
      .flatMap((id) => {
        try {
          const r = readJsonSync(join(dir, id, 'run.json'), RunRecordSchema, { what: 'run record' }) as RunRecord;
          const shownStatus = r.status === 'running' && !pidAlive(r.pid) ? 'killed' : r.status;
          return [{ ...r, shownStatus }];
        } catch {
          return [];
        }
      })
      .sort((a, b) => (a.started < b.started ? 1 : a.started > b.started ? -1 : b.id.localeCompare(a.id)));
  }

  /** A run's plan (as saved when it started). */
  runPlan(id: string): unknown {
    return readJsonSync(join(this.runDir(id), 'plan.json'), SavedPlanSchema, {
      what: 'saved plan',
      fix: 'this run\'s record is damaged; its results in the store are unaffected (`rlhfc verify` checks them)',
    });
  }

  // ---- cleaning ------------------------------------------------------------------------------

  /**
   * Leftovers of interrupted work: temp folders of processes that are gone, half-replaced
   * checkpoint folders, and checkpoints of nodes that finished since. Never touches finished nodes.
   */
  leftovers(): GcEntry[] {
    const out: GcEntry[] = [];
    const tmp = join(this.root, 'tmp');
    if (isDir(tmp)) {
      for (const f of readdirSync(tmp)) {
        const pid = Number(f.split('.')[1]);
        if (Number.isInteger(pid) && pidAlive(pid) && pid !== process.pid) continue;
        out.push({ path: join(tmp, f), what: 'unfinished work of a stopped process', bytes: diskUsage(join(tmp, f)) });
      }
    }
    const cks = join(this.root, 'checkpoints');
    if (isDir(cks)) {
      for (const h of readdirSync(cks)) {
        const d = join(cks, h);
        if (!isDir(d)) {
          out.push({ path: d, what: 'not a checkpoint folder', bytes: diskUsage(d) });
          continue;
        }
        if (this.isFinished(h)) {
          out.push({ path: d, what: 'checkpoint of a finished stage', bytes: diskUsage(d) });
          continue;
        }
        const best = latestCheckpoint(d);
        for (const f of readdirSync(d)) {
          const p = join(d, f);
          if (p !== best) out.push({ path: p, what: 'partial or superseded checkpoint', bytes: diskUsage(p) });
        }
      }
    }
    return out;
  }

  /**
   * Finished nodes and checkpoints that no kept plan references. `keep` holds node hashes; runs
   * keep the nodes of their plans when they are among the `keepRuns` newest of their spec.
   */
  unreferenced(keep: Set<string>, keepRuns: number): GcEntry[] {
    const kept = new Set(keep);
    const bySpec = new Map<string, number>();
    for (const r of this.runs()) {
      const n = bySpec.get(r.spec) ?? 0;
      if (n >= keepRuns) continue;
      bySpec.set(r.spec, n + 1);
      try {
        const plan = this.runPlan(r.id) as { nodes: { hash: string }[] };
        for (const node of plan.nodes) kept.add(node.hash);
      } catch {
        // a run without its plan keeps nothing
      }
    }
    const out: GcEntry[] = [];
    for (const [sub, what] of [
      ['nodes', 'result no kept plan uses'],
      ['checkpoints', 'checkpoint no kept plan uses'],
    ] as const) {
      const dir = join(this.root, sub);
      if (!isDir(dir)) continue;
      for (const h of readdirSync(dir)) {
        if (kept.has(h)) continue;
        const rec = sub === 'nodes' ? this.record(h) : undefined;
        out.push({ path: join(dir, h), what: rec ? `${what} (${rec.name ?? rec.id}, ${rec.kind})` : what, bytes: diskUsage(join(dir, h)) });
      }
    }
    return out;
  }

  /** Remove entries (from `leftovers`/`unreferenced`). */
  remove(entries: GcEntry[]): void {
    for (const e of entries) rmSync(e.path, { recursive: true, force: true });
  }
}

/** Another live process holds the store's lock. */
export class StoreBusy extends Error {
  constructor(
    readonly root: string,
    readonly pid: number,
  ) {
    super(`the artifact store ${root} is in use by another rlhfc process${Number.isNaN(pid) ? '' : ` (pid ${pid})`}; wait for it to finish or stop it`);
  }
}

/** Files under a folder (recursively), as `/`-separated relative path → size; only regular files count. */
export function listFiles(dir: string, prefix = '', out = new Map<string, number>()): Map<string, number> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) listFiles(join(dir, e.name), rel, out);
    else out.set(rel, e.isFile() ? statSync(join(dir, e.name)).size : -1);
  }
  return out;
}

/** sha256 of a file, read in chunks (no whole-file buffer). */
export function sha256File(path: string): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Write a file atomically: temp file in the same folder, then rename. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}-${tmpCounter++}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}
