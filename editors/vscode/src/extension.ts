// The VS Code client: starts `rlhfc lsp` (the workspace's node_modules/.bin/rlhfc, else the one on
// the PATH, or the command set in `rlhf.server.path`) and connects it to .rlhf editors. Everything
// language-specific lives in the server (tools/lsp/); this file only wires it up.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';

let client: LanguageClient | undefined;

function serverCommand(): { command: string; args: string[]; cwd?: string } {
  const cfg = vscode.workspace.getConfiguration('rlhf');
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const args = [...cfg.get<string[]>('server.args', []), 'lsp'];
  const configured = cfg.get<string>('server.path', '');
  if (configured) return { command: configured, args, cwd: folder };
  const local = folder && join(folder, 'node_modules', '.bin', process.platform === 'win32' ? 'rlhfc.cmd' : 'rlhfc');
  return { command: local && existsSync(local) ? local : 'rlhfc', args, cwd: folder };
}

async function start(context: vscode.ExtensionContext): Promise<void> {
  const { command, args, cwd } = serverCommand();
  const run = { command, args, transport: TransportKind.stdio, options: { cwd, shell: process.platform === 'win32' } };
  const serverOptions: ServerOptions = { run, debug: run };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: 'file', language: 'rlhf' }],
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher('**/*.rlhf') },
  };
  client = new LanguageClient('rlhf', 'rlhf language server', serverOptions, clientOptions);
  try {
    await client.start();
  } catch (e) {
    void vscode.window.showErrorMessage(`rlhf: could not start \`${command} ${args.join(' ')}\`: ${(e as Error).message}. Install rlhfc in the workspace (npm install) or set rlhf.server.path.`);
  }
  context.subscriptions.push({ dispose: () => void client?.stop() });
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  context.subscriptions.push(
    vscode.commands.registerCommand('rlhf.restartServer', async () => {
      await client?.stop();
      await start(context);
    }),
  );
  await start(context);
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
