// Builds the VS Code extension: bundles src/extension.ts with vscode-languageclient into
// dist/extension.js (esbuild; `vscode` is provided by the editor) and packs the documented VSIX
// layout (an OPC zip: [Content_Types].xml, extension.vsixmanifest, extension/…) with yazl.
//   npm run build:vscode      → editors/vscode/rlhf-<version>.vsix  (this script: scripts/build-vsix.ts)
//   code --install-extension editors/vscode/rlhf-<version>.vsix

import { build } from 'esbuild';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import yazl from 'yazl';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '../editors/vscode');

/** Files of the extension folder that go into the package (besides the bundle). */
export const PACKAGED = ['package.json', 'README.md', 'language-configuration.json', 'syntaxes/rlhf.tmLanguage.json'];

interface Manifest {
  name: string;
  displayName: string;
  description: string;
  version: string;
  publisher: string;
  license: string;
  keywords: string[];
  categories: string[];
  engines: { vscode: string };
  main: string;
}

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function vsixManifest(m: Manifest): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<PackageManifest Version="2.0.0" xmlns="http://schemas.microsoft.com/developer/vsx-schema/2011" xmlns:d="http://schemas.microsoft.com/developer/vsx-schema-design/2011">
  <Metadata>
    <Identity Language="en-US" Id="${xml(m.name)}" Version="${xml(m.version)}" Publisher="${xml(m.publisher)}"/>
    <DisplayName>${xml(m.displayName)}</DisplayName>
    <Description xml:space="preserve">${xml(m.description)}</Description>
    <Tags>${xml(m.keywords.join(','))}</Tags>
    <Categories>${xml(m.categories.join(','))}</Categories>
    <GalleryFlags>Public</GalleryFlags>
    <Properties>
      <Property Id="Microsoft.VisualStudio.Code.Engine" Value="${xml(m.engines.vscode)}"/>
      <Property Id="Microsoft.VisualStudio.Code.ExtensionDependencies" Value=""/>
      <Property Id="Microsoft.VisualStudio.Code.ExtensionPack" Value=""/>
      <Property Id="Microsoft.VisualStudio.Code.ExtensionKind" Value="workspace"/>
      <Property Id="Microsoft.VisualStudio.Services.GitHubFlavoredMarkdown" Value="true"/>
    </Properties>
  </Metadata>
  <Installation>
    <InstallationTarget Id="Microsoft.VisualStudio.Code"/>
  </Installation>
  <Dependencies/>
  <Assets>
    <Asset Type="Microsoft.VisualStudio.Code.Manifest" Path="extension/package.json" Addressable="true"/>
    <Asset Type="Microsoft.VisualStudio.Services.Content.Details" Path="extension/README.md" Addressable="true"/>
  </Assets>
</PackageManifest>
`;
}

const CONTENT_TYPES: Record<string, string> = {
  '.json': 'application/json',
  '.js': 'application/javascript',
  '.md': 'text/markdown',
  '.vsixmanifest': 'text/xml',
};

function contentTypes(paths: string[]): string {
  const exts = [...new Set(paths.map((p) => extname(p)))].sort();
  const rows = exts.map((e) => `  <Default Extension="${e}" ContentType="${CONTENT_TYPES[e] ?? 'application/octet-stream'}"/>`);
  return `<?xml version="1.0" encoding="utf-8"?>\n<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">\n${rows.join('\n')}\n</Types>\n`;
}

/** Bundle and pack; returns the .vsix path and the paths inside it. */
export async function buildVsix(outDir = here): Promise<{ vsix: string; entries: string[] }> {
  const m = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8')) as Manifest;
  const bundle = join(here, m.main);
  await build({
    entryPoints: [join(here, 'src/extension.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node18',
    external: ['vscode'],
    outfile: bundle,
    logLevel: 'warning',
    legalComments: 'inline',
  });
  const files = [...PACKAGED.map((p) => ({ from: join(here, p), to: `extension/${p}` })), { from: bundle, to: `extension/${m.main.replace(/^\.\//, '')}` }];
  const entries = ['[Content_Types].xml', 'extension.vsixmanifest', ...files.map((f) => f.to)];
  const zip = new yazl.ZipFile();
  const mtime = new Date(Date.UTC(2026, 0, 1)); // fixed: the same sources give the same package
  zip.addBuffer(Buffer.from(contentTypes(entries)), '[Content_Types].xml', { mtime });
  zip.addBuffer(Buffer.from(vsixManifest(m)), 'extension.vsixmanifest', { mtime });
  for (const f of files) zip.addBuffer(readFileSync(f.from), f.to, { mtime });
  zip.end();
  mkdirSync(outDir, { recursive: true });
  const vsix = resolve(outDir, `${m.name}-${m.version}.vsix`);
  await new Promise<void>((ok, fail) => {
    const out = createWriteStream(vsix);
    out.on('close', () => ok()).on('error', fail);
    zip.outputStream.on('error', fail).pipe(out);
  });
  return { vsix, entries };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { vsix, entries } = await buildVsix();
  console.log(`${vsix} (${entries.length} files); install with: code --install-extension ${vsix}`);
}
