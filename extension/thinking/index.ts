/**
 * The reasoning-behaviour workflow in the editor, registered by extension.ts in one call: the
 * Reasoning Behaviours view (Chains, Annotations, Vectors), the annotations document with its
 * decorations and quick fixes, the behaviour chart panels and the palette commands.
 */
import * as vscode from 'vscode';
import type { LayerLabCommands } from '../commands';
import { outputFolders, type LayerLabSettings } from '../settings';
import { NodeTreeProvider, watchFolder } from '../views';
import { AnnotationsView } from './annotations';
import { ThinkingCommands } from './commands';
import { ThinkingPanels } from './panels';
import { scanThinking, thinkingNodes } from './tree';

export const THINKING_VIEW_ID = 'layerlab.thinking';

export interface ThinkingParts {
  view: NodeTreeProvider;
  annotations: AnnotationsView;
  panels: ThinkingPanels;
  commands: ThinkingCommands;
  /** Watches the output folder again (after a settings change). */
  rewatch(): void;
  disposables: vscode.Disposable[];
}

export function registerThinking(o: {
  extensionUri: vscode.Uri;
  commands: LayerLabCommands;
  settings(): LayerLabSettings | undefined;
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
}): ThinkingParts {
  const view = new NodeTreeProvider(
    THINKING_VIEW_ID,
    async () => {
      const s = o.settings();
      if (!s) return [];
      const dir = outputFolders(s).thinking;
      return thinkingNodes(await scanThinking(dir), dir);
    },
    (_id, e) => o.log('error', `reasoning behaviours: ${e.message}`),
  );
  const annotations = new AnnotationsView(o.log);
  const panels = new ThinkingPanels(o.extensionUri, o.log);
  const commands = new ThinkingCommands({ commands: o.commands, settings: o.settings, annotations, panels, refresh: () => view.refresh() });
  let watcher: vscode.Disposable | undefined;
  const rewatch = () => {
    watcher?.dispose();
    const s = o.settings();
    watcher = s ? watchFolder(outputFolders(s).thinking, () => view.refreshSoon()) : undefined;
  };
  rewatch();
  const disposables: vscode.Disposable[] = [
    view,
    vscode.window.createTreeView(THINKING_VIEW_ID, { treeDataProvider: view, showCollapseAll: true }),
    ...annotations.register(),
    panels.register(),
    panels,
    ...commands.register(),
    { dispose: () => watcher?.dispose() },
  ];
  return { view, annotations, panels, commands, rewatch, disposables };
}
