// The README's quick start is what CI runs (.ci/run reads it through .ci/quickstart-commands): two
// commands, the main job on an example that compiles, then the test command.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../compiler/compile.ts';

describe('README quick start', () => {
  it('is two commands: run an example pipeline that compiles, then npm test; CI runs exactly those', () => {
    const cmds = execFileSync('bash', ['.ci/quickstart-commands'], { encoding: 'utf8' }).trim().split('\n');
    expect(cmds).toHaveLength(2);
    const spec = /npx rlhfc run (\S+\.rlhf)$/.exec(cmds[0])?.[1];
    expect(spec, cmds[0]).toBeDefined();
    expect(cmds[0].startsWith('npm ci && ')).toBe(true);
    expect(compileFile(spec!).diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(cmds[1]).toBe('npm test');
  });
});
