/**
 * A chart with its toolbar: show the numbers as an accessible <table> (the canvas is an image to
 * a screen reader), export the chart as PNG and its data as CSV. Both exports go to the host,
 * which asks where to save them (a webview cannot write files).
 */
import type { ChartId } from '../../runtime/protocol/webview';
import { toCsv } from '../model/csv';
import type { Cell, TableData } from '../model/run';
import type { HostChannel } from '../vscodeApi';
import { clear, h } from './dom';

/** The parts of a Chart.js instance a card uses (any chart type). */
export interface CardChart {
  destroy(): void;
  toBase64Image(type?: string, quality?: unknown): string;
}

export interface CardContext {
  channel: HostChannel;
  /** Stem of exported file names (the shown file's name without .json). */
  exportStem: () => string;
  tableShown: (id: ChartId) => boolean;
  setTableShown: (id: ChartId, shown: boolean) => void;
}

function display(v: Cell): string {
  if (v === null) return '';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(4);
  return String(v);
}

export class ChartCard {
  readonly root: HTMLElement;
  readonly canvas: HTMLCanvasElement;
  readonly controls: HTMLElement;
  private readonly note: HTMLElement;
  private readonly tableHost: HTMLElement;
  private readonly status: HTMLElement;
  private readonly tableButton: HTMLElement;
  private data: TableData = { columns: [], rows: [] };
  chart: CardChart | null = null;

  constructor(
    readonly id: ChartId,
    readonly title: string,
    private readonly ctx: CardContext,
    description?: string,
  ) {
    this.canvas = h('canvas', { role: 'img', 'aria-label': `${title}. Use "Data table" for the numbers.` });
    this.tableButton = h('vscode-button', { secondary: true, icon: 'table', 'data-action': 'table', 'aria-pressed': 'false', title: 'Show the numbers as a table' }, 'Data table');
    const png = h('vscode-button', { secondary: true, icon: 'device-camera', 'data-action': 'png', title: 'Save the chart as a PNG image' }, 'PNG');
    const csv = h('vscode-button', { secondary: true, icon: 'export', 'data-action': 'csv', title: 'Save the chart data as CSV' }, 'CSV');
    this.status = h('span', { class: 'card-status', role: 'status', 'aria-live': 'polite' });
    this.controls = h('div', { class: 'card-controls' });
    this.note = h('p', { class: 'card-note' });
    this.tableHost = h('div', { class: 'card-table', hidden: true });
    const titleId = `title-${id}`;
    this.root = h(
      'section',
      { class: 'card', 'data-chart': id, 'aria-labelledby': titleId },
      h('header', { class: 'card-header' }, h('h3', { id: titleId }, title), h('div', { class: 'card-actions' }, this.tableButton, png, csv)),
      description ? h('p', { class: 'card-description' }, description) : null,
      this.controls,
      h('div', { class: 'chart-box' }, this.canvas),
      this.note,
      this.tableHost,
      this.status,
    );
    this.tableButton.addEventListener('click', () => this.showTable(this.tableHost.hidden));
    png.addEventListener('click', () => void this.exportPng());
    csv.addEventListener('click', () => void this.exportCsv());
    this.showTable(ctx.tableShown(id), false);
  }

  setNote(text: string): void {
    this.note.textContent = text;
    this.note.hidden = !text;
  }

  setTable(data: TableData): void {
    this.data = data;
    if (!this.tableHost.hidden) this.renderTable();
  }

  tableData(): TableData {
    return this.data;
  }

  showTable(shown: boolean, persist = true): void {
    this.tableHost.hidden = !shown;
    this.tableButton.setAttribute('aria-pressed', String(shown));
    if (shown) this.renderTable();
    if (persist) this.ctx.setTableShown(this.id, shown);
  }

  private renderTable(): void {
    clear(this.tableHost);
    const table = h('table', { class: 'data-table' }, h('caption', {}, `${this.title}: the plotted numbers`));
    const head = h('tr', {}, ...this.data.columns.map((c) => h('th', { scope: 'col' }, c)));
    table.append(h('thead', {}, head));
    const body = h('tbody');
    for (const r of this.data.rows) body.append(h('tr', {}, ...r.map((v) => h('td', { class: typeof v === 'number' ? 'num' : undefined }, display(v)))));
    table.append(body);
    this.tableHost.append(table);
  }

  private async exportPng(): Promise<void> {
    if (!this.chart) return;
    const url = this.chart.toBase64Image('image/png', 1);
    const content = url.slice(url.indexOf(',') + 1);
    await this.report(this.ctx.channel.save('png', this.id, `${this.ctx.exportStem()}.${this.id}.png`, content));
  }

  private async exportCsv(): Promise<void> {
    await this.report(this.ctx.channel.save('csv', this.id, `${this.ctx.exportStem()}.${this.id}.csv`, toCsv(this.data)));
  }

  private async report(p: ReturnType<HostChannel['save']>): Promise<void> {
    this.status.textContent = 'Saving…';
    const r = await p;
    this.status.textContent = r.error ? `Not saved: ${r.error}` : r.path ? `Saved ${r.path}` : '';
  }
}
