/**
 * The page's side of the webview channel: VS Code's `acquireVsCodeApi()` (callable once per
 * document) typed with runtime/protocol/webview's messages, plus request/response pairing for
 * saves, whose answer comes back as a separate `saved` message.
 */
import type { ChartPageState, ExportFormat, HostToWebview, SavedMessage, WebviewToHost } from '../runtime/protocol/webview';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

export class HostChannel {
  private readonly api: VsCodeApi = acquireVsCodeApi();
  private readonly pendingSaves = new Map<string, (m: SavedMessage) => void>();
  private nextRequest = 1;

  constructor(private readonly onMessage: (m: HostToWebview) => void) {
    window.addEventListener('message', (e: MessageEvent) => {
      const m = e.data as HostToWebview;
      if (!m || typeof m !== 'object' || typeof (m as { type?: unknown }).type !== 'string') return;
      if (m.type === 'saved') {
        this.pendingSaves.get(m.requestId)?.(m);
        this.pendingSaves.delete(m.requestId);
        return;
      }
      this.onMessage(m);
    });
  }

  post(m: WebviewToHost): void {
    this.api.postMessage(m);
  }

  /** Posts the bytes to the host, which asks where to save them; resolves with its answer. */
  save(format: ExportFormat, chart: string, fileName: string, content: string): Promise<SavedMessage> {
    const requestId = `save-${this.nextRequest++}`;
    return new Promise((resolve) => {
      this.pendingSaves.set(requestId, resolve);
      this.post({ type: 'save', requestId, format, chart, fileName, content });
    });
  }

  state<T extends ChartPageState>(): T | undefined {
    return (this.api.getState() as T | undefined) ?? undefined;
  }

  setState(s: ChartPageState): void {
    this.api.setState(s);
  }
}
