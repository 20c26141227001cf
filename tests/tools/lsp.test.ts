// `rlhfc lsp` as a child process, driven over stdio by a real LSP client connection
// (vscode-languageserver-protocol): diagnostics equal to `rlhfc check` across imports, their
// latency on a change in the largest example, hover, completion, definition, symbols,
// formatting, references and rename across importers.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CompletionRequest,
  DefinitionRequest,
  DidChangeTextDocumentNotification,
  DidCloseTextDocumentNotification,
  DidOpenTextDocumentNotification,
  DocumentFormattingRequest,
  DocumentSymbolRequest,
  ExitNotification,
  HoverRequest,
  InitializedNotification,
  InitializeRequest,
  PrepareRenameRequest,
  PublishDiagnosticsNotification,
  ReferencesRequest,
  RenameRequest,
  ShutdownRequest,
  createProtocolConnection,
  type CompletionItem,
  type Diagnostic,
  type DocumentSymbol,
  type Location,
  type ProtocolConnection,
  type PublishDiagnosticsParams,
  type WorkspaceEdit,
} from 'vscode-languageserver-protocol/node';
import { compileFile } from '../../compiler/compile.ts';
import { STAGE_KINDS, STAGE_SCHEMAS } from '../../runtime/stages/index.ts';
import type { BlockSpec, StringSpec } from '../../core/schema.ts';
import { formatText } from '../../tools/format.ts';

const repo = process.cwd();
const ws = mkdtempSync(join(tmpdir(), 'rlhfc-lsp-'));
cpSync('examples', ws, { recursive: true, filter: (s) => !s.includes('/.rlhf') });
const uri = (p: string) => pathToFileURL(resolve(p)).href;

let child: ChildProcess;
let conn: ProtocolConnection;
let stderr = '';
const diags = new Map<string, PublishDiagnosticsParams>();
const waiters: { uri: string; version?: number; resolve: (p: PublishDiagnosticsParams) => void }[] = [];
const versions = new Map<string, number>();

/** Resolves with the next diagnostics published for `u` (for `version` when given). */
function nextDiagnostics(u: string, version?: number): Promise<PublishDiagnosticsParams> {
  return new Promise((res) => waiters.push({ uri: u, version, resolve: res }));
}

async function openDoc(path: string, text = readFileSync(path, 'utf8')): Promise<PublishDiagnosticsParams> {
  const u = uri(path);
  versions.set(u, 1);
  const got = nextDiagnostics(u, 1);
  await conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri: u, languageId: 'rlhf', version: 1, text } });
  return got;
}

async function changeDoc(path: string, text: string): Promise<PublishDiagnosticsParams> {
  const u = uri(path);
  const version = (versions.get(u) ?? 1) + 1;
  versions.set(u, version);
  const got = nextDiagnostics(u, version);
  await conn.sendNotification(DidChangeTextDocumentNotification.type, { textDocument: { uri: u, version }, contentChanges: [{ text }] });
  return got;
}

async function closeDoc(path: string): Promise<void> {
  await conn.sendNotification(DidCloseTextDocumentNotification.type, { textDocument: { uri: uri(path) } });
}

/** Line/character of the `nth` occurrence of `needle` in `text`, plus `delta` characters. */
function at(text: string, needle: string, delta = 0, nth = 0): { line: number; character: number } {
  let i = -1;
  for (let k = 0; k <= nth; k++) i = text.indexOf(needle, i + 1);
  if (i < 0) throw new Error(`'${needle}' not found`);
  const before = text.slice(0, i + delta);
  const line = before.split('\n').length - 1;
  return { line, character: before.length - before.lastIndexOf('\n') - 1 };
}

const hoverText = async (path: string, position: { line: number; character: number }) => {
  const h = await conn.sendRequest(HoverRequest.type, { textDocument: { uri: uri(path) }, position });
  return h ? (h.contents as { value: string }).value : '';
};
const completions = async (path: string, position: { line: number; character: number }) =>
  ((await conn.sendRequest(CompletionRequest.type, { textDocument: { uri: uri(path) }, position })) as CompletionItem[]).map((c) => c.label);

beforeAll(async () => {
  child = spawn(process.execPath, [join(repo, 'bin/rlhfc.mjs'), 'lsp', '--stdio'], { cwd: repo, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stderr!.on('data', (d) => (stderr += d));
  conn = createProtocolConnection(child.stdout!, child.stdin!);
  conn.onNotification(PublishDiagnosticsNotification.type, (p) => {
    diags.set(p.uri, p);
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i];
      if (w.uri === p.uri && (w.version === undefined || w.version === p.version)) {
        waiters.splice(i, 1);
        w.resolve(p);
      }
    }
  });
  conn.listen();
  const init = await conn.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: uri(ws), capabilities: {}, workspaceFolders: [{ uri: uri(ws), name: 'ws' }] });
  expect(init.capabilities.hoverProvider).toBe(true);
  await conn.sendNotification(InitializedNotification.type, {});
});

afterAll(async () => {
  try {
    await conn.sendRequest(ShutdownRequest.type);
    await conn.sendNotification(ExitNotification.type);
  } catch {
    child.kill();
  }
  await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
  conn.dispose();
  rmSync(ws, { recursive: true, force: true });
});

describe('rlhfc lsp', () => {
  it('publishes the diagnostics of `rlhfc check` (same codes, messages, positions) for every test case, across imports', async () => {
    const cases = readdirSync('tests/cases')
      .filter((f) => f.endsWith('.rlhf'))
      .map((f) => join('tests/cases', f));
    let withErrors = 0;
    for (const f of cases) {
      const r = compileFile(f);
      const want = r.diagnostics
        .map((d) => `${resolve(d.span?.file ?? f)}:${(d.span?.start.line ?? 1) - 1}:${(d.span?.start.col ?? 1) - 1} ${d.code} ${d.message}`)
        .sort();
      await openDoc(f);
      // Everything published by that check has arrived once a later request is answered.
      await conn.sendRequest(DocumentSymbolRequest.type, { textDocument: { uri: uri(f) } });
      const got: string[] = [];
      for (const [u, p] of diags) {
        for (const d of p.diagnostics) got.push(`${new URL(u).pathname}:${d.range.start.line}:${d.range.start.character} ${d.code} ${(d.message as string).split('\n')[0]}`);
      }
      expect(got.sort(), f).toEqual(want);
      if (want.length) withErrors++;
      await closeDoc(f);
      await conn.sendRequest(DocumentSymbolRequest.type, { textDocument: { uri: uri(f) } });
      for (const [u, p] of diags) if (!p.diagnostics.length) diags.delete(u);
      expect([...diags.values()].flatMap((p) => p.diagnostics), `${f}: closing clears its diagnostics`).toEqual([]);
    }
    expect(withErrors).toBeGreaterThan(30);
  });

  it('diagnoses unsaved edits as they are typed, in the file and in the files that import it; measures the latency on the largest example', async () => {
    // The largest example (by size), edited in memory: a misspelt parameter, then fixed again.
    const examples = readdirSync(ws).filter((f) => f.endsWith('.rlhf'));
    const largest = examples.map((f) => join(ws, f)).sort((a, b) => readFileSync(b, 'utf8').length - readFileSync(a, 'utf8').length)[0];
    const good = readFileSync(largest, 'utf8');
    const bad = good.replace('max_prompts:', 'max_prompt:');
    expect(bad).not.toBe(good);
    const stage = [...good.slice(0, good.indexOf('max_prompts:')).matchAll(/stage (\w+):/g)].at(-1)![1]; // the eval stage edited
    expect((await openDoc(largest)).diagnostics).toEqual([]);
    const times: number[] = [];
    for (let k = 0; k < 8; k++) {
      let t = performance.now();
      const broken = await changeDoc(largest, bad);
      times.push(performance.now() - t);
      expect(broken.diagnostics.map((d) => `${d.code} ${(d.message as string).split('\n')[0]}`)).toEqual([`RLHF3003 unknown parameter 'max_prompt' for stage '${stage}' (eval); did you mean 'max_prompts'?`]);
      t = performance.now();
      const fixed = await changeDoc(largest, good);
      times.push(performance.now() - t);
      expect(fixed.diagnostics).toEqual([]);
    }
    times.sort((a, b) => a - b);
    const median = times[times.length >> 1];
    console.log(`lsp: diagnostics after a change in ${largest.split('/').pop()} (${good.length} chars): median ${median.toFixed(0)} ms, max ${times[times.length - 1].toFixed(0)} ms over ${times.length} changes (incl. ${50} ms debounce)`);
    expect(median).toBeLessThan(2000);
    await closeDoc(largest);

    // An unsaved edit of an imported file shows in the importer's diagnostics, at the use.
    const lib = join(ws, 'lib/recipes.rlhf');
    const main = join(ws, 'templates.rlhf');
    expect((await openDoc(main)).diagnostics).toEqual([]);
    const libText = readFileSync(lib, 'utf8');
    const mainDiags = nextDiagnostics(uri(lib));
    await openDoc(lib, libText.replace('center_rewards: 0.01', 'center_rewards: "high"'));
    await mainDiags;
    await conn.sendRequest(DocumentSymbolRequest.type, { textDocument: { uri: uri(lib) } });
    const inLib = diags.get(uri(lib))!.diagnostics;
    expect(inLib.map((d) => d.code)).toEqual(['RLHF3001']);
    expect(inLib[0].relatedInformation?.[0].location.uri).toBe(uri(main)); // "in template used here"
    await closeDoc(lib);
    await closeDoc(main);
  });

  it('hover: a parameter\'s doc, type, default and range; a reference\'s artifact type; a template\'s parameters', async () => {
    const seed = join(ws, 'seed.rlhf');
    const text = readFileSync(seed, 'utf8');
    await openDoc(seed);
    const lr = await hoverText(seed, at(text, 'lr: 3e-3'));
    const lrSpec = (STAGE_SCHEMAS.pretrain.params.optimizer as BlockSpec).fields.lr;
    expect(lr).toContain('**lr** — float in (0, 10]');
    expect(lr).toContain('default: `0.001`');
    expect(lr).toContain(lrSpec.doc);
    expect(await hoverText(seed, at(text, 'base.model', 0, 0))).toMatch(/stage of kind `pretrain`; outputs: `base.model` \(causal_lm\)/);
    expect(await hoverText(seed, at(text, 'base.model', 5, 0))).toContain('**causal_lm**');
    expect(await hoverText(seed, at(text, 'data: prefs', 6))).toContain('dataset: **preferences**');
    expect(await hoverText(seed, at(text, 'ppo {'))).toContain(STAGE_SCHEMAS.ppo.doc);
    await closeDoc(seed);

    const tpl = join(ws, 'templates.rlhf');
    const ttext = readFileSync(tpl, 'utf8');
    await openDoc(tpl);
    const h = await hoverText(tpl, at(ttext, 'lora_sft(r: 4)'));
    expect(h).toContain('template lora_sft(r = 8, lr = 1e-3, epochs = 1): sft');
    expect(h).toContain('LoRA fine-tuning whose adapter scale follows its rank.');
    expect(await hoverText(tpl, at(ttext, 'lr: 5e-4'))).toContain('template parameter **lr** = 1e-3');
    await closeDoc(tpl);
  });

  it('completion: stage kinds and templates, the parameters of the current block, enum values, names of the right artifact type, template parameters', async () => {
    const f = join(ws, 'complete.rlhf');
    const text = [
      'import "lib/recipes.rlhf"',
      'dataset speeches = corpus("sotu")',
      'dataset prefs = corpus("sentiment") { kind: preferences }',
      'tokenizer bpe = bpe(speeches)',
      'model tiny = gpt',
      'stage base: pretrain { model: tiny  tokenizer: bpe  data: speeches }',
      'stage rm: reward {',
      '  model: base.model',
      '  data: ',
      '  optimizer { schedule:  }',
      '  ',
      '}',
      'stage x: ',
      'stage y: lora_sft() { model: base. }',
      '',
    ].join('\n');
    await openDoc(f, text);
    const kinds = await completions(f, at(text, 'stage x: ', 9));
    expect(kinds).toEqual(expect.arrayContaining([...STAGE_KINDS, 'lora_sft', 'lora_reward', 'short_pretrain']));
    const keys = await completions(f, at(text, '  \n}', 2));
    expect(keys).toEqual(expect.arrayContaining(['lora', 'epochs', 'center_rewards', 'max_seq_length']));
    expect(keys).not.toContain('model'); // already written
    expect(keys).not.toContain('beta'); // a dpo parameter
    expect(keys.sort()).toEqual(Object.keys(STAGE_SCHEMAS.reward.params).filter((k) => !['model', 'data', 'optimizer'].includes(k)).sort());
    expect(await completions(f, at(text, 'schedule: ', 10))).toEqual([...((STAGE_SCHEMAS.reward.params.optimizer as BlockSpec).fields.schedule as StringSpec).enum!]);
    expect(await completions(f, at(text, 'data: \n', 6))).toEqual(['prefs']); // reward data: preferences only
    expect((await completions(f, at(text, 'model: base.model', 7))).sort()).toEqual(['base.model', 'tiny']); // causal_lm, not rm itself
    expect((await completions(f, at(text, 'lora_sft(', 9))).sort()).toEqual(['epochs', 'lr', 'r']);
    expect(await completions(f, at(text, 'base. }', 5))).toEqual(['model']);
    await closeDoc(f);
  });

  it('go to definition across files: references, templates, template parameters, imports; document symbols; formatting', async () => {
    const tpl = join(ws, 'templates.rlhf');
    const lib = join(ws, 'lib/recipes.rlhf');
    const ttext = readFileSync(tpl, 'utf8');
    const ltext = readFileSync(lib, 'utf8');
    await openDoc(tpl);
    const def = async (path: string, pos: { line: number; character: number }) => (await conn.sendRequest(DefinitionRequest.type, { textDocument: { uri: uri(path) }, position: pos })) as Location;
    expect(await def(tpl, at(ttext, 'lora_sft(r: 4)'))).toEqual({ uri: uri(lib), range: { start: at(ltext, 'lora_sft'), end: at(ltext, 'lora_sft', 8) } });
    expect(await def(tpl, at(ttext, 'base.model', 1))).toEqual({ uri: uri(tpl), range: { start: at(ttext, 'base:'), end: at(ttext, 'base:', 4) } });
    expect(await def(tpl, at(ttext, '"lib/recipes.rlhf"', 3))).toMatchObject({ uri: uri(lib) });
    expect(await def(tpl, at(ttext, 'lr: 5e-4'))).toEqual({ uri: uri(lib), range: { start: at(ltext, 'lr = 1e-3'), end: at(ltext, 'lr = 1e-3', 2) } });
    await openDoc(lib);
    expect(await def(lib, at(ltext, 'alpha: 2 * r', 11))).toEqual({ uri: uri(lib), range: { start: at(ltext, 'r = 8'), end: at(ltext, 'r = 8', 1) } });
    await closeDoc(lib);

    const syms = (await conn.sendRequest(DocumentSymbolRequest.type, { textDocument: { uri: uri(tpl) } })) as DocumentSymbol[];
    expect(syms.map((s) => s.name)).toEqual(['lib/recipes.rlhf', 'seed', 'speeches', 'reviews', 'prefs', 'bpe', 'tiny', 'base', 'chat_r4', 'chat_r16', 'rm']);
    expect(syms.find((s) => s.name === 'chat_r16')!.children!.map((c) => c.name)).toEqual(['model', 'data', 'template']);
    await closeDoc(tpl);

    const messy = join(ws, 'messy.rlhf');
    const mtext = 'seed=1\nmodel m=gpt{layers:2\nheads:2}\n';
    await openDoc(messy, mtext);
    const edits = await conn.sendRequest(DocumentFormattingRequest.type, { textDocument: { uri: uri(messy) }, options: { tabSize: 2, insertSpaces: true } });
    const r = formatText(mtext);
    expect(r.ok && edits).toEqual([{ range: { start: { line: 0, character: 0 }, end: { line: 3, character: 0 } }, newText: r.ok ? r.text : '' }]);
    await closeDoc(messy);
  });

  it('rename: a declaration across the file and its importers; a template parameter with its named arguments; refuses bad names and schema keys', async () => {
    const tpl = join(ws, 'templates.rlhf');
    const lib = join(ws, 'lib/recipes.rlhf');
    const ttext = readFileSync(tpl, 'utf8');
    const ltext = readFileSync(lib, 'utf8');
    await openDoc(lib); // only the library is open: the importer is found in the workspace
    const rename = async (path: string, pos: { line: number; character: number }, newName: string) =>
      (await conn.sendRequest(RenameRequest.type, { textDocument: { uri: uri(path) }, position: pos, newName })) as WorkspaceEdit;
    const apply = (text: string, edits: { range: { start: { line: number; character: number } }; newText: string }[], oldLen: number) => {
      const lines = text.split('\n');
      for (const e of [...edits].sort((a, b) => b.range.start.line - a.range.start.line || b.range.start.character - a.range.start.character)) {
        const l = lines[e.range.start.line];
        lines[e.range.start.line] = l.slice(0, e.range.start.character) + e.newText + l.slice(e.range.start.character + oldLen);
      }
      return lines.join('\n');
    };
    const e = await rename(lib, at(ltext, 'lora_sft'), 'lora_finetune');
    expect(Object.keys(e.changes!).sort()).toEqual([uri(lib), uri(tpl)].sort());
    expect(apply(ttext, e.changes![uri(tpl)], 'lora_sft'.length)).toBe(ttext.replaceAll('lora_sft', 'lora_finetune'));
    expect(apply(ltext, e.changes![uri(lib)], 'lora_sft'.length)).toBe(ltext.replace('template lora_sft', 'template lora_finetune'));

    const refs = (await conn.sendRequest(ReferencesRequest.type, { textDocument: { uri: uri(lib) }, position: at(ltext, 'lora_sft'), context: { includeDeclaration: true } })) as Location[];
    expect(refs.length).toBe(3);

    // A template parameter: its declaration, its uses in the body, the named arguments of stages using the template.
    const p = await rename(lib, at(ltext, 'lr = 1e-3'), 'learning_rate');
    expect(apply(ttext, p.changes![uri(tpl)], 2)).toBe(ttext.replace('lr: 5e-4', 'learning_rate: 5e-4'));
    expect(p.changes![uri(lib)].length).toBe(2);

    await expect(rename(lib, at(ltext, 'lora_sft'), 'stage')).rejects.toThrow("'stage' is a keyword");
    await expect(rename(lib, at(ltext, 'lora_sft'), 'lora_reward')).rejects.toThrow("'lora_reward' is already declared");
    await expect(rename(lib, at(ltext, 'lora_sft'), '9x')).rejects.toThrow('is not a name');
    await expect(conn.sendRequest(PrepareRenameRequest.type, { textDocument: { uri: uri(lib) }, position: at(ltext, 'max_seq_length') })).rejects.toThrow('parameter of the schema');
    await closeDoc(lib);

    // A dataset renamed from its use in the file that declares it.
    await openDoc(tpl);
    const d = await rename(tpl, at(ttext, 'reviews }'), 'review_pairs');
    expect(apply(ttext, d.changes![uri(tpl)], 'reviews'.length)).toBe(ttext.replaceAll('reviews ', 'review_pairs ').replace('dataset review_pairs  =', 'dataset review_pairs  ='));
    expect(d.changes![uri(tpl)].length).toBe(3);
    await closeDoc(tpl);
  });

  it('wrote nothing but protocol to stdout and no errors to stderr', () => {
    expect(stderr).toBe('');
  });
});
