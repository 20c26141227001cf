// The generated field lists (compiler/export/trl/fields.json) match the installed packages, and
// the pins agree: requirements.txt (the venv CI installs) = versions.ts (what exports pin).
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { PINNED } from '../../compiler/export/trl/versions.ts';
import { GENERATED_FROM } from '../../compiler/export/trl/fields.ts';
import { describeInterop, execFileSync, py, pyEnv, PYTHON, ROOT } from './python.ts';

describeInterop('interop: generated field lists and pins', () => {
  it('scripts/trl_fields.py --check: fields.json is what the installed packages say', () => {
    const out = execFileSync(PYTHON, ['scripts/trl_fields.py', '--check'], { cwd: ROOT, encoding: 'utf8', env: pyEnv() });
    expect(out).toContain('matches the installed packages');
  });

  it('requirements.txt pins what versions.ts pins, and that is what is installed', () => {
    const req = Object.fromEntries(
      readFileSync(`${ROOT}/requirements.txt`, 'utf8')
        .split('\n')
        .filter((l) => /^\w/.test(l))
        .map((l) => l.split('==')),
    );
    const installed = JSON.parse(py('import json\nfrom importlib.metadata import version\nprint(json.dumps({p: version(p).split("+")[0] for p in ' + JSON.stringify(Object.keys(req)) + '}))'));
    for (const [pkg, v] of Object.entries(req)) {
      expect(PINNED[pkg as keyof typeof PINNED], pkg).toBe(v);
      expect(installed[pkg], pkg).toBe(v);
      expect(GENERATED_FROM[pkg]?.split('+')[0], pkg).toBe(v);
    }
  });
});
