/**
 * Messages between the extension host and the reasoning-behaviour pages (webview/thinking/):
 * layer effects, vector statistics, steering (with the side-by-side chains). The handshake and the
 * page → host messages are those of the chart pages (./webview.ts: `ready`, `log`, `save`); only
 * the page kinds and the one host → page message are new. Pages draw only from the file posted.
 *
 * No imports from vscode, the DOM or Node here.
 */
import type { EffectsFile, SteeringFile, VectorStatsFile } from './thinking';
import type { LogMessage, SaveMessage, SavedMessage } from './webview';

export const THINKING_VIEW_TYPE = 'layerlab.thinkingChart';

export const THINKING_PAGES = ['effects', 'vectors', 'steering'] as const;
export type ThinkingPage = (typeof THINKING_PAGES)[number];

export type ThinkingData =
  | { page: 'effects'; file: EffectsFile }
  | { page: 'vectors'; file: VectorStatsFile }
  | { page: 'steering'; file: SteeringFile };

export interface ShowThinkingMessage {
  type: 'showThinking';
  /** Absolute path of the file drawn, and a short name for titles and exports. */
  path: string;
  name: string;
  data: ThinkingData;
}

export interface ThinkingLoadFailedMessage {
  type: 'loadFailed';
  path: string;
  message: string;
}

export type HostToThinking = ShowThinkingMessage | ThinkingLoadFailedMessage | SavedMessage;

export interface ThinkingReadyMessage {
  type: 'ready';
  page: ThinkingPage;
}

export type ThinkingToHost = ThinkingReadyMessage | SaveMessage | LogMessage;

/** What a thinking page keeps across reloads (the panel serializer restores from it). */
export interface ThinkingPageState {
  page: ThinkingPage;
  path: string;
  ui: { behaviour?: string; condition?: string; task?: string; hook?: string; tables: string[] };
}

/** Chart ids (exports, data tables, test selectors). */
export type ThinkingChartId = 'thinking-effects' | 'thinking-vector-norms' | 'thinking-cosine' | 'thinking-steering';
