// The artifact store: a content-addressed folder (default `.rlhf/` beside the spec).
//
//   <store>/nodes/<hash>/          a finished node's outputs (renamed into place when complete)
//   <store>/nodes/<hash>/node.json what produced it (id, kind, hash, params, metrics)
//   <store>/tmp/<hash>.<pid>.<n>/  work in progress; never read as finished
//
// A node is finished iff its folder exists under nodes/ and holds node.json: the folder only gets
// there by an atomic rename of a complete temp folder, so a crash never leaves a half-written
// artifact that looks done.

import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface NodeRecord {
  id: string;
  kind: string;
  hash: string;
  params: unknown;
  metrics: Record<string, unknown>;
  seconds: number;
}

let tmpCounter = 0;

export class ArtifactStore {
  constructor(public readonly root: string) {}

  nodeDir(hash: string): string {
    return join(this.root, 'nodes', hash);
  }

  isFinished(hash: string): boolean {
    return existsSync(join(this.nodeDir(hash), 'node.json'));
  }

  record(hash: string): NodeRecord | undefined {
    const p = join(this.nodeDir(hash), 'node.json');
    return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as NodeRecord) : undefined;
  }

  /** A fresh temp folder for a node's work in progress. */
  beginNode(hash: string): string {
    const dir = join(this.root, 'tmp', `${hash}.${process.pid}.${tmpCounter++}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** Write node.json into the temp folder and move it into place atomically. */
  commitNode(tmpDir: string, rec: NodeRecord): string {
    writeFileSync(join(tmpDir, 'node.json'), JSON.stringify(rec, null, 2) + '\n');
    const dest = this.nodeDir(rec.hash);
    mkdirSync(join(this.root, 'nodes'), { recursive: true });
    // A stale, unfinished folder under the final name (should not happen) is removed first.
    if (existsSync(dest) && !this.isFinished(rec.hash)) rmSync(dest, { recursive: true, force: true });
    renameSync(tmpDir, dest);
    return dest;
  }

  /** Remove a node's finished artifacts (used by --force). */
  invalidate(hash: string): void {
    rmSync(this.nodeDir(hash), { recursive: true, force: true });
  }
}

/** Write a file atomically: temp file in the same folder, then rename. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}-${tmpCounter++}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}
