// Issue 18: a folder is never taken for a spec. Stores a run leaves beside a spec (`.rlhfc/`, or the
// old `.rlhf/`) are skipped when specs are listed, and a folder given as a spec gets a clear error.
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.ts';
import { renderDiagnostics } from '../../core/diagnostics.ts';
import { specFilesIn } from '../../compiler/load.ts';
import { DEFAULT_STORE, LEGACY_STORE, defaultStoreIn, storeDirOf } from '../../runtime/store.ts';

const SPEC = 'seed = 1\ndataset d = corpus("sentiment") { kind: text }\ntokenizer t = chars(d)\nmodel m = gpt { layers: 1  heads: 1  width: 8  context: 8 }\nstage s: pretrain { model: m  tokenizer: t  data: d  max_steps: 1 }\n';

function workspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rlhfc-specs-'));
  writeFileSync(join(dir, 'a.rlhf'), SPEC);
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'sub', 'b.rlhf'), SPEC);
  mkdirSync(join(dir, 'lib'));
  writeFileSync(join(dir, 'lib', 'shared.rlhf'), SPEC);
  // what a run leaves behind: a store under the old name (which ends like a spec) and the new one
  mkdirSync(join(dir, LEGACY_STORE, 'nodes'), { recursive: true });
  writeFileSync(join(dir, LEGACY_STORE, 'nodes', 'x.rlhf'), 'not a spec');
  mkdirSync(join(dir, DEFAULT_STORE, 'runs'), { recursive: true });
  mkdirSync(join(dir, 'folder.rlhf'));
  return dir;
}

describe('spec files', () => {
  it('are the regular *.rlhf files, not stores, lib/ folders or folders named like specs', () => {
    const dir = workspace();
    symlinkSync('/dev/null', join(dir, 'device.rlhf'));
    expect(specFilesIn(dir)).toEqual([join(dir, 'a.rlhf'), join(dir, 'sub', 'b.rlhf')]);
  });

  it('a folder given as a spec is a clear error that names the specs inside', () => {
    const dir = workspace();
    const r = compileFile(join(dir, 'sub'));
    expect(r.plan).toBeUndefined();
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0].code).toBe('RLHF9001');
    expect(r.diagnostics[0].message).toMatch(/sub': it is a folder, not a spec file$/);
    expect(r.diagnostics[0].notes).toEqual([expect.stringMatching(/^did you mean '.*sub\/b\.rlhf'\?$/)]);
    const store = compileFile(join(dir, LEGACY_STORE));
    expect(store.diagnostics[0].message).toMatch(/it is a folder, not a spec file$/);
  });

  it('an import of a folder is an error at the import', () => {
    const dir = workspace();
    writeFileSync(join(dir, 'main.rlhf'), 'import "folder.rlhf"\n' + SPEC);
    const r = compileFile(join(dir, 'main.rlhf'));
    const text = renderDiagnostics(r.diagnostics, (p) => r.sources.get(p));
    expect(r.diagnostics.map((d) => d.code)).toEqual(['RLHF2001']);
    expect(text).toMatch(/main\.rlhf:1:8: error RLHF2001: imported file 'folder\.rlhf' not found \(looked for .*folder\.rlhf: it is a folder, not a spec file\)/);
  });
});

describe('store folder', () => {
  it('is .rlhfc beside the spec by default; an existing old .rlhf store is used while no .rlhfc exists', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rlhfc-store-name-'));
    writeFileSync(join(dir, 'a.rlhf'), SPEC);
    const plan = compileFile(join(dir, 'a.rlhf')).plan!;
    expect(storeDirOf(plan, join(dir, 'a.rlhf'))).toBe(join(dir, '.rlhfc'));
    // an empty folder under the old name is not a store
    mkdirSync(join(dir, '.rlhf'));
    expect(defaultStoreIn(dir)).toBe(join(dir, '.rlhfc'));
    mkdirSync(join(dir, '.rlhf', 'nodes'));
    expect(storeDirOf(plan, join(dir, 'a.rlhf'))).toBe(join(dir, '.rlhf'));
    mkdirSync(join(dir, '.rlhfc'));
    expect(storeDirOf(plan, join(dir, 'a.rlhf'))).toBe(join(dir, '.rlhfc'));
    expect(storeDirOf(plan, join(dir, 'a.rlhf'), 'elsewhere')).toBe(join(process.cwd(), 'elsewhere'));
  });

  it('an explicit artifacts setting is used as written', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rlhfc-store-name-'));
    writeFileSync(join(dir, 'a.rlhf'), 'artifacts = "runs/store"\n' + SPEC);
    mkdirSync(join(dir, '.rlhf', 'nodes'), { recursive: true });
    const plan = compileFile(join(dir, 'a.rlhf')).plan!;
    expect(storeDirOf(plan, join(dir, 'a.rlhf'))).toBe(join(dir, 'runs', 'store'));
  });
});
