// `rlhfc lsp`: a Language Server Protocol server over stdio (vscode-languageserver). Diagnostics
// are the compiler's own (compileFile with the editors' unsaved texts), published per file across
// imports; hover, completion, definition, references, rename and symbols come from features.ts;
// formatting is `rlhfc fmt` (tools/format.ts).

import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  CompletionItemKind,
  DiagnosticSeverity,
  InsertTextFormat,
  MarkupKind,
  ProposedFeatures,
  ResponseError,
  SymbolKind,
  TextDocumentSyncKind,
  TextDocuments,
  createConnection,
  type Connection,
  type Diagnostic as LspDiagnostic,
  type DocumentSymbol,
  type Location,
  type Range,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { compileFile } from '../../compiler/compile.ts';
import type { Span } from '../../grammar/ast.ts';
import type { Diagnostic } from '../../core/diagnostics.ts';
import { formatText, specFiles } from '../format.ts';
import { loadFor, type Program } from './analysis.ts';
import { checkNewName, complete, definition, hover, occurrences, symbols, targetAt, type Completion, type Place, type Symbol } from './features.ts';

/** How long the server waits after the last keystroke before checking (ms). */
export const DEBOUNCE_MS = 50;

const COMPLETION_KIND: Record<Completion['kind'], CompletionItemKind> = {
  property: CompletionItemKind.Property,
  block: CompletionItemKind.Module,
  value: CompletionItemKind.Value,
  reference: CompletionItemKind.Reference,
  function: CompletionItemKind.Function,
  keyword: CompletionItemKind.Keyword,
  enum: CompletionItemKind.EnumMember,
  template: CompletionItemKind.Class,
  kind: CompletionItemKind.Struct,
};

const SYMBOL_KIND: Record<Symbol['kind'], SymbolKind> = {
  file: SymbolKind.File,
  dataset: SymbolKind.Array,
  tokenizer: SymbolKind.Object,
  model: SymbolKind.Class,
  stage: SymbolKind.Function,
  template: SymbolKind.Interface,
  setting: SymbolKind.Constant,
  field: SymbolKind.Property,
  block: SymbolKind.Namespace,
};

const toPath = (uri: string) => resolve(fileURLToPath(uri));
const toUri = (path: string) => pathToFileURL(path).href;

export function startServer(input: NodeJS.ReadableStream = process.stdin, output: NodeJS.WritableStream = process.stdout): Connection {
  // stdout carries the protocol: anything else printed there would corrupt it.
  console.log = console.error;
  console.info = console.error;
  const connection = createConnection(ProposedFeatures.all, input, output);
  const documents = new TextDocuments(TextDocument);
  /** Open documents by absolute path (URIs from clients may be spelled differently). */
  const open = new Map<string, string>();
  let roots: string[] = [];

  const read = (path: string): string | undefined => {
    const uri = open.get(resolve(path));
    return uri ? documents.get(uri)?.getText() : undefined;
  };
  const textOf = (path: string, p?: Program): string => read(path) ?? p?.files.get(path)?.text ?? '';
  const docFor = (path: string, p?: Program) => TextDocument.create(toUri(path), 'rlhf', 0, textOf(path, p));
  const rangeOf = (pl: Place, p?: Program): Range => {
    const d = docFor(pl.file, p);
    return { start: d.positionAt(pl.start), end: d.positionAt(pl.end) };
  };
  const spanRange = (s: Span): Range => ({ start: { line: s.start.line - 1, character: s.start.col - 1 }, end: { line: s.end.line - 1, character: s.end.col - 1 } });

  // ---- diagnostics: per compiled root, per file ------------------------------------------------
  const byRoot = new Map<string, Map<string, LspDiagnostic[]>>();
  const filesOf = new Map<string, Set<string>>();
  const timers = new Map<string, NodeJS.Timeout>();

  const toLsp = (d: Diagnostic): LspDiagnostic => ({
    range: d.span ? spanRange(d.span) : { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
    severity: d.severity === 'error' ? DiagnosticSeverity.Error : DiagnosticSeverity.Warning,
    code: d.code,
    source: 'rlhfc',
    message: [d.message, ...(d.notes ?? []).map((n) => `= ${n}`)].join('\n'),
    relatedInformation: d.related?.map((r) => ({ location: { uri: toUri(resolve(r.span.file)), range: spanRange(r.span) }, message: r.message })),
  });

  const publish = (file: string) => {
    const seen = new Set<string>();
    const all: LspDiagnostic[] = [];
    for (const m of byRoot.values()) {
      for (const d of m.get(file) ?? []) {
        const key = `${d.code} ${d.range.start.line}:${d.range.start.character} ${d.message}`;
        if (!seen.has(key)) {
          seen.add(key);
          all.push(d);
        }
      }
    }
    const uri = open.get(file) ?? toUri(file);
    void connection.sendDiagnostics({ uri, version: documents.get(uri)?.version, diagnostics: all });
  };

  /** Compile one open file (with its imports, from the editors' texts) and publish what it found. */
  const validate = (root: string) => {
    const grouped = new Map<string, LspDiagnostic[]>([[root, []]]);
    try {
      const r = compileFile(root, { read });
      for (const d of r.diagnostics) {
        const f = d.span ? resolve(d.span.file) : root;
        if (!grouped.has(f)) grouped.set(f, []);
        grouped.get(f)!.push(toLsp(d));
      }
      filesOf.set(root, new Set([...r.sources.keys()].map((s) => resolve(s))));
    } catch (e) {
      connection.console.error(`rlhfc lsp: checking ${root} failed: ${(e as Error).stack ?? e}`);
    }
    const before = byRoot.get(root);
    byRoot.set(root, grouped);
    for (const f of new Set([...(before?.keys() ?? []), ...grouped.keys()])) publish(f);
  };

  const schedule = (path: string) => {
    clearTimeout(timers.get(path));
    timers.set(
      path,
      setTimeout(() => {
        timers.delete(path);
        validate(path);
        // Other open files that import this one see the change too.
        for (const other of open.keys()) if (other !== path && filesOf.get(other)?.has(path)) validate(other);
      }, DEBOUNCE_MS),
    );
  };

  documents.onDidOpen((e) => {
    if (!e.document.uri.startsWith('file:')) return;
    open.set(toPath(e.document.uri), e.document.uri);
  });
  documents.onDidChangeContent((e) => {
    if (!e.document.uri.startsWith('file:')) return;
    const path = toPath(e.document.uri);
    open.set(path, e.document.uri);
    schedule(path);
  });
  documents.onDidClose((e) => {
    if (!e.document.uri.startsWith('file:')) return;
    const path = toPath(e.document.uri);
    open.delete(path);
    clearTimeout(timers.get(path));
    const before = byRoot.get(path);
    byRoot.delete(path);
    filesOf.delete(path);
    for (const f of before?.keys() ?? []) publish(f);
    // The file on disk may differ from the closed buffer: files that import it are checked again.
    for (const other of open.keys()) if (filesOf.get(other)?.has(path)) schedule(other);
  });

  connection.onDidChangeWatchedFiles(() => {
    for (const p of open.keys()) schedule(p);
  });

  // ---- requests ----------------------------------------------------------------------------------
  // Files without a path (untitled editors) are read as if they were in the working folder.
  const program = (uri: string) => {
    const path = uri.startsWith('file:') ? toPath(uri) : resolve('untitled.rlhf');
    const text = documents.get(uri)?.getText();
    return { path, p: loadFor(path, (q) => (q === path && text !== undefined ? text : read(q))) };
  };
  const offsetOf = (uri: string, pos: { line: number; character: number }) => documents.get(uri)?.offsetAt(pos) ?? 0;

  connection.onInitialize((params) => {
    roots = (params.workspaceFolders?.map((f) => f.uri) ?? (params.rootUri ? [params.rootUri] : [])).filter((u) => u.startsWith('file:')).map(toPath);
    return {
      capabilities: {
        textDocumentSync: TextDocumentSyncKind.Incremental,
        hoverProvider: true,
        completionProvider: { triggerCharacters: ['.', ':', '('] },
        definitionProvider: true,
        referencesProvider: true,
        documentSymbolProvider: true,
        documentFormattingProvider: true,
        renameProvider: { prepareProvider: true },
      },
      serverInfo: { name: 'rlhfc' },
    };
  });

  connection.onHover(({ textDocument, position }) => {
    const { path, p } = program(textDocument.uri);
    const h = hover(p, path, offsetOf(textDocument.uri, position));
    return h ? { contents: { kind: MarkupKind.Markdown, value: h.text }, range: rangeOf({ file: path, start: h.start, end: h.end }, p) } : null;
  });

  connection.onCompletion(({ textDocument, position }) => {
    const { path, p } = program(textDocument.uri);
    return complete(p, path, offsetOf(textDocument.uri, position)).map((c) => ({
      label: c.label,
      kind: COMPLETION_KIND[c.kind],
      detail: c.detail,
      documentation: c.doc ? { kind: MarkupKind.Markdown, value: c.doc } : undefined,
      insertText: c.insert,
      insertTextFormat: c.snippet ? InsertTextFormat.Snippet : InsertTextFormat.PlainText,
      sortText: c.sort,
    }));
  });

  connection.onDefinition(({ textDocument, position }) => {
    const { path, p } = program(textDocument.uri);
    const d = definition(p, path, offsetOf(textDocument.uri, position));
    return d ? ({ uri: open.get(d.file) ?? toUri(d.file), range: rangeOf(d, p) } satisfies Location) : null;
  });

  /** The programs that may use a declaration of `file`: open files and the workspace's specs. */
  const programsUsing = (file: string, first: Program): Program[] => {
    const out = [first];
    const seen = new Set([first.main]);
    const candidates = [...open.keys(), ...(roots.length ? specFiles(roots).files.map((f) => resolve(f)) : [])];
    for (const c of candidates) {
      if (seen.has(c)) continue;
      seen.add(c);
      try {
        const p = loadFor(c, read);
        if (p.files.has(file)) out.push(p);
      } catch {
        // an unreadable file in the workspace is not this rename's business
      }
    }
    return out;
  };

  const allOccurrences = (uri: string, pos: { line: number; character: number }) => {
    const { path, p } = program(uri);
    const t = targetAt(p, path, offsetOf(uri, pos));
    if (!t || 'error' in t) return { t, places: [] as { place: Place; p: Program }[] };
    const seen = new Set<string>();
    const places: { place: Place; p: Program }[] = [];
    for (const q of programsUsing(t.target.file, p)) {
      for (const place of occurrences(q, t.target)) {
        const key = `${place.file}:${place.start}`;
        if (!seen.has(key)) {
          seen.add(key);
          places.push({ place, p: q });
        }
      }
    }
    return { t, places, p };
  };

  connection.onReferences(({ textDocument, position }) => {
    const { places } = allOccurrences(textDocument.uri, position);
    return places.map(({ place, p }) => ({ uri: open.get(place.file) ?? toUri(place.file), range: rangeOf(place, p) }));
  });

  connection.onPrepareRename(({ textDocument, position }) => {
    const { path, p } = program(textDocument.uri);
    const t = targetAt(p, path, offsetOf(textDocument.uri, position));
    if (!t) return null;
    if ('error' in t) throw new ResponseError(1, t.error);
    return rangeOf({ file: path, start: t.start, end: t.end }, p);
  });

  connection.onRenameRequest(({ textDocument, position, newName }) => {
    const { t, places, p } = allOccurrences(textDocument.uri, position);
    if (!t) return null;
    if ('error' in t) throw new ResponseError(1, t.error);
    const bad = checkNewName(p!, t.target, newName);
    if (bad) throw new ResponseError(1, bad);
    const changes: Record<string, { range: Range; newText: string }[]> = {};
    for (const { place, p: q } of places) (changes[open.get(place.file) ?? toUri(place.file)] ??= []).push({ range: rangeOf(place, q), newText: newName });
    return { changes };
  });

  connection.onDocumentSymbol(({ textDocument }) => {
    const doc = documents.get(textDocument.uri);
    if (!doc) return [];
    const conv = (s: Symbol): DocumentSymbol => ({
      name: s.name,
      detail: s.detail,
      kind: SYMBOL_KIND[s.kind],
      range: { start: doc.positionAt(s.start), end: doc.positionAt(s.end) },
      selectionRange: { start: doc.positionAt(s.nameStart), end: doc.positionAt(s.nameEnd) },
      children: s.children.map(conv),
    });
    return symbols(doc.getText(), textDocument.uri).map(conv);
  });

  connection.onDocumentFormatting(({ textDocument }) => {
    const doc = documents.get(textDocument.uri);
    if (!doc) return [];
    const r = formatText(doc.getText(), textDocument.uri);
    if (!r.ok || !r.changed) return [];
    return [{ range: { start: { line: 0, character: 0 }, end: doc.positionAt(doc.getText().length) }, newText: r.text }];
  });

  documents.listen(connection);
  connection.listen();
  return connection;
}
