/**
 * The sidebar's tree views: one generic provider over plain nodes (treeData.ts) and a loader,
 * plus file watchers that refresh a view when its folder changes on disk.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { messageNode, type TreeNodeData } from './treeData';

export class NodeTreeProvider implements vscode.TreeDataProvider<TreeNodeData>, vscode.Disposable {
  private roots?: Promise<TreeNodeData[]>;
  private readonly changed = new vscode.EventEmitter<TreeNodeData | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private timer?: NodeJS.Timeout;

  constructor(
    readonly viewId: string,
    private readonly load: () => Promise<TreeNodeData[]>,
    private readonly onLoadError: (viewId: string, e: Error) => void,
  ) {}

  /** Reloads now (e.g. after a job wrote files, or a setting changed). */
  refresh(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.roots = undefined;
    this.changed.fire(undefined);
  }

  /** Reloads once a burst of file events is over (a job writing many files fires many). */
  refreshSoon(ms = 300): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), ms);
  }

  /** The current top-level nodes (loading them if needed). */
  nodes(): Promise<TreeNodeData[]> {
    this.roots ??= this.load().catch((e: Error) => {
      this.onLoadError(this.viewId, e);
      return [messageNode('load-error', `Could not read: ${e.message}`, 'error')];
    });
    return this.roots;
  }

  async getChildren(element?: TreeNodeData): Promise<TreeNodeData[]> {
    return element ? (element.children ?? []) : this.nodes();
  }

  getTreeItem(node: TreeNodeData): vscode.TreeItem {
    return toTreeItem(node);
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.changed.dispose();
  }
}

export function toTreeItem(n: TreeNodeData): vscode.TreeItem {
  const collapsible = n.children && n.children.length > 0;
  const item = new vscode.TreeItem(
    n.label,
    collapsible ? (n.expanded ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed) : vscode.TreeItemCollapsibleState.None,
  );
  item.id = n.id;
  item.contextValue = n.kind;
  if (n.description !== undefined) item.description = n.description;
  if (n.tooltip !== undefined) item.tooltip = n.tooltip;
  if (n.icon) item.iconPath = new vscode.ThemeIcon(n.icon);
  if (n.resourcePath) item.resourceUri = vscode.Uri.file(n.resourcePath);
  if (n.command) item.command = n.command;
  return item;
}

/**
 * Watches a folder (which may not exist yet) and calls `onChange` on any change below it.
 * Inside a workspace folder the pattern is relative to it, so VS Code's workspace watcher
 * serves it (and sees the folder being created); outside, the folder itself is watched.
 */
export function watchFolder(folder: string, onChange: () => void): vscode.Disposable {
  const ws = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(folder));
  const rel = ws ? path.relative(ws.uri.fsPath, folder).split(path.sep).join('/') : '';
  const pattern = ws ? new vscode.RelativePattern(ws, rel ? `${rel}/**` : '**') : new vscode.RelativePattern(vscode.Uri.file(folder), '**');
  const w = vscode.workspace.createFileSystemWatcher(pattern);
  w.onDidCreate(onChange);
  w.onDidChange(onChange);
  w.onDidDelete(onChange);
  return w;
}
