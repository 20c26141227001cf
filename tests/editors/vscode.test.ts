// The VS Code extension (editors/vscode): `npm run build:vscode` packs a .vsix with the documented
// layout and the right files; the bundled client needs nothing but `vscode` and Node; the
// TextMate grammar highlights a spec as intended (tokenized with vscode-textmate, as VS Code does).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import yauzl from 'yauzl';
import oniguruma from 'vscode-oniguruma';
import textmate from 'vscode-textmate';
import { buildVsix } from '../../scripts/build-vsix.ts';

const out = mkdtempSync(join(tmpdir(), 'rlhfc-vsix-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function unzip(path: string): Promise<Map<string, Buffer>> {
  return new Promise((ok, fail) => {
    yauzl.open(path, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return fail(err);
      const files = new Map<string, Buffer>();
      zip.on('entry', (e: yauzl.Entry) => {
        zip.openReadStream(e, (err2, s) => {
          if (err2 || !s) return fail(err2);
          const chunks: Buffer[] = [];
          s.on('data', (c: Buffer) => chunks.push(c));
          s.on('end', () => {
            files.set(e.fileName, Buffer.concat(chunks));
            zip.readEntry();
          });
        });
      });
      zip.on('end', () => ok(files));
      zip.on('error', fail);
      zip.readEntry();
    });
  });
}

describe('VS Code extension', () => {
  it('builds a .vsix with the manifest, the bundled client, the grammar and the language configuration', async () => {
    const { vsix } = await buildVsix(out);
    const files = await unzip(vsix);
    expect([...files.keys()].sort()).toEqual(
      [
        '[Content_Types].xml',
        'extension.vsixmanifest',
        'extension/package.json',
        'extension/README.md',
        'extension/language-configuration.json',
        'extension/syntaxes/rlhf.tmLanguage.json',
        'extension/dist/extension.js',
      ].sort(),
    );
    const pkg = JSON.parse(files.get('extension/package.json')!.toString());
    expect(pkg).toEqual(JSON.parse(readFileSync('editors/vscode/package.json', 'utf8')));
    const manifest = files.get('extension.vsixmanifest')!.toString();
    expect(manifest).toContain(`<Identity Language="en-US" Id="${pkg.name}" Version="${pkg.version}" Publisher="${pkg.publisher}"/>`);
    expect(manifest).toContain(`<Property Id="Microsoft.VisualStudio.Code.Engine" Value="${pkg.engines.vscode}"/>`);
    for (const ext of ['.json', '.js', '.md', '.vsixmanifest']) expect(files.get('[Content_Types].xml')!.toString()).toContain(`Extension="${ext}"`);
    // Everything package.json points at is in the package.
    expect(files.has(`extension/${pkg.main.replace('./', '')}`)).toBe(true);
    for (const l of pkg.contributes.languages) expect(files.has(`extension/${l.configuration.replace('./', '')}`)).toBe(true);
    for (const g of pkg.contributes.grammars) expect(files.has(`extension/${g.path.replace('./', '')}`)).toBe(true);
    expect(pkg.contributes.languages[0].extensions).toEqual(['.rlhf']);
    JSON.parse(files.get('extension/language-configuration.json')!.toString());
    // The client is bundled: at run time it needs only the editor's `vscode` module and Node's own.
    const js = files.get('extension/dist/extension.js')!.toString();
    const required = new Set([...js.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1].replace(/^node:/, '')));
    expect(required.has('vscode')).toBe(true);
    expect([...required].filter((r) => r !== 'vscode' && !builtinModules.includes(r))).toEqual([]);
    expect(js).toContain('"lsp"]'); // starts `rlhfc lsp`
    expect(js).toContain('LanguageClient');
  });

  it('the TextMate grammar highlights declarations, kinds, parameters, references, strings and comments', async () => {
    const wasm = readFileSync('node_modules/vscode-oniguruma/release/onig.wasm');
    await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
    const registry = new textmate.Registry({
      onigLib: Promise.resolve({ createOnigScanner: (p: string[]) => new oniguruma.OnigScanner(p), createOnigString: (s: string) => new oniguruma.OnigString(s) }),
      loadGrammar: async () => textmate.parseRawGrammar(readFileSync('editors/vscode/syntaxes/rlhf.tmLanguage.json', 'utf8'), 'rlhf.tmLanguage.json'),
    });
    const grammar = (await registry.loadGrammar('source.rlhf'))!;
    const lines = [
      'import "lib/recipes.rlhf"  # the recipes',
      'seed = 42',
      'dataset prefs = corpus("sentiment") { kind: preferences }',
      'template lora_sft(r = 8): sft { lora { r: r } }',
      'stage chat: lora_sft(r: 4) {',
      '  model: base.model  template: "{prompt}\\n{response}"',
      '  optimizer { lr: 1e-3  schedule: cosine }  // fast',
      '  judge: vader()  completion_only: true  steps: -2 * r',
      '}',
      'stage rm: reward { data: prefs }',
    ];
    const scopes = new Map<string, string>();
    let state = textmate.INITIAL;
    for (const line of lines) {
      const r = grammar.tokenizeLine(line, state);
      for (const t of r.tokens) {
        const text = line.slice(t.startIndex, t.endIndex);
        if (text.trim() && !scopes.has(text.trim())) scopes.set(text.trim(), t.scopes[t.scopes.length - 1]);
      }
      state = r.ruleStack;
    }
    const want: Record<string, string> = {
      import: 'keyword.control.import.rlhf',
      'the recipes': 'comment.line.number-sign.rlhf',
      seed: 'variable.other.constant.setting.rlhf',
      '42': 'constant.numeric.rlhf',
      dataset: 'storage.type.dataset.rlhf',
      prefs: 'entity.name.variable.rlhf',
      corpus: 'support.function.constructor.rlhf',
      '"': 'punctuation.definition.string.begin.rlhf',
      kind: 'support.type.property-name.rlhf',
      preferences: 'variable.other.rlhf',
      stage: 'storage.type.stage.rlhf',
      chat: 'entity.name.function.stage.rlhf',
      lora_sft: 'entity.name.type.template.rlhf',
      reward: 'entity.name.type.stage-kind.rlhf',
      base: 'variable.other.object.rlhf',
      '{prompt}': 'constant.other.placeholder.rlhf',
      '\\n': 'constant.character.escape.rlhf',
      optimizer: 'support.type.property-name.block.rlhf',
      '1e-3': 'constant.numeric.rlhf',
      fast: 'comment.line.double-slash.rlhf',
      vader: 'support.function.rlhf',
      true: 'constant.language.boolean.rlhf',
      '*': 'keyword.operator.arithmetic.rlhf',
      template: 'storage.type.template.rlhf',
      sft: 'entity.name.type.stage-kind.rlhf',
    };
    expect(Object.keys(want).map((text) => `${text} → ${scopes.get(text)}`)).toEqual(Object.entries(want).map(([text, scope]) => `${text} → ${scope}`));
  });
});
