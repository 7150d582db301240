/**
 * The run page: accuracy per layer and intervention (one chart per subset), the sweep matrix,
 * and the drill-down from any point to the items behind it, with each item beside its baseline
 * generation. A second run can be overlaid for comparison.
 */
import type { RunFile, RunItem, Subset } from '../../runtime/protocol/results';
import type { ChartId, CorrectnessFilter, DrillSelection, LoadedRun, RunPageState, RunRole, RunUiState } from '../../runtime/protocol/webview';
import { accuracyChart, type AccuracyPick } from '../charts/accuracy';
import { heatmapChart, heatmapHeight } from '../charts/heatmap';
import {
  accuracyTable,
  baselineItemFor,
  buildHeatmap,
  buildRunView,
  drillItems,
  drillLayerChoices,
  heatDomain,
  heatmapTable,
  interventionsAtSlot,
  mostlyUnparsed,
  pct,
  resultById,
  ROLE_TAG,
  slotOfIntervention,
  subsetTitle,
  unparsedWarning,
  type HeatCell,
  type Heatmap,
} from '../model/run';
import { runDifferences, runLabels } from '../../runtime/protocol/labels';
import { readTheme, type Theme } from '../theme';
import { ChartCard, type CardContext } from '../ui/chartCard';
import { clear, h, select } from '../ui/dom';
import type { HostChannel } from '../vscodeApi';

const SUBSETS: Subset[] = ['reasoning', 'memorization'];
/** Rows drawn at once; a 3000-item run stays responsive, and filters narrow the rest. */
const MAX_ROWS = 500;

export function defaultRunUi(): RunUiState {
  return { tab: 'accuracy', drill: null, tables: [] };
}

function baseName(p: string): string {
  return p.split(/[\\/]/).pop() ?? p;
}

function stem(p: string): string {
  return baseName(p).replace(/\.json$/i, '');
}

export class RunPage {
  private primary: LoadedRun | null = null;
  private compare: LoadedRun | null = null;
  private ui: RunUiState;
  private readonly cards = new Map<ChartId, ChartCard>();
  private readonly header = h('header', { class: 'page-header' });
  private readonly tabs = h('vscode-tabs', { id: 'tabs' });
  private readonly accuracyPanel = h('div', { class: 'card-grid' });
  private readonly heatmapPanel = h('div', { class: 'card-grid' });
  private readonly drill = h('section', { id: 'drilldown', class: 'drilldown', 'aria-labelledby': 'drill-title' });

  constructor(
    private readonly root: HTMLElement,
    private readonly channel: HostChannel,
    saved: RunPageState | undefined,
  ) {
    this.ui = saved?.page === 'run' ? { ...defaultRunUi(), ...saved.ui } : defaultRunUi();
    this.tabs.append(
      h('vscode-tab-header', { slot: 'header', 'data-tab': 'accuracy' }, 'Accuracy per layer'),
      h('vscode-tab-panel', {}, this.accuracyPanel),
      h('vscode-tab-header', { slot: 'header', 'data-tab': 'heatmap' }, 'Sweep heatmap'),
      h('vscode-tab-panel', {}, this.heatmapPanel),
    );
    this.tabs.setAttribute('selected-index', this.ui.tab === 'heatmap' ? '1' : '0');
    this.tabs.addEventListener('vsc-tabs-select', (e) => {
      this.ui.tab = (e as CustomEvent<{ selectedIndex: number }>).detail.selectedIndex === 1 ? 'heatmap' : 'accuracy';
      this.persist();
    });
    clear(root);
    root.append(this.header, this.tabs, this.drill);
  }

  show(run: LoadedRun, compare: LoadedRun | null): void {
    // A different primary run (the panel now shows another file) starts with a fresh drill-down.
    if (this.primary && this.primary.path !== run.path) this.ui.drill = null;
    this.primary = run;
    this.compare = compare;
    if (this.ui.drill?.role === 'compare' && !compare) this.ui.drill = null;
    if (this.ui.drill && !resultById(this.runOf(this.ui.drill.role)!.run, this.ui.drill.interventionId)) this.ui.drill = null;
    this.persist();
    this.render();
  }

  runChanged(role: RunRole, run: LoadedRun): void {
    if (role === 'primary') this.primary = run;
    else if (this.compare) this.compare = run;
    this.render();
  }

  /** Redraw everything (new data, or a theme change). */
  render(): void {
    if (!this.primary) return;
    this.renderHeader();
    this.renderCharts(readTheme());
    this.renderDrill();
  }

  private runOf(role: RunRole): LoadedRun | null {
    return role === 'primary' ? this.primary : this.compare;
  }

  private persist(): void {
    if (!this.primary) return;
    this.channel.setState({ page: 'run', runPath: this.primary.path, comparePath: this.compare?.path ?? null, ui: this.ui });
  }

  private cardContext(): CardContext {
    return {
      channel: this.channel,
      exportStem: () => stem(this.primary?.path ?? 'run'),
      tableShown: (id) => this.ui.tables.includes(id),
      setTableShown: (id, shown) => {
        this.ui.tables = shown ? [...new Set([...this.ui.tables, id])] : this.ui.tables.filter((x) => x !== id);
        this.persist();
      },
    };
  }

  // -------------------------------------------------------------------------------------------

  private renderHeader(): void {
    const { run, path } = this.primary!;
    const s = run.spec;
    const items = run.results[0]?.items.length ?? 0;
    clear(this.header);
    const status = run.complete
      ? h('span', { class: 'badge ok' }, 'complete')
      : h(
          'span',
          { class: 'badge warn', title: 'The file is not marked complete: the run is still going, or it was cancelled or crashed. Charts show the items done.' },
          `partial: ${run.progress.done}/${run.progress.total} items`,
        );
    const measured = run.results.filter((r) => r.intervention.kind !== 'none').length;
    const hasBaseline = run.results.some((r) => r.intervention.kind === 'none');
    const interventions = `${measured} intervention${measured === 1 ? '' : 's'}${hasBaseline ? ' + baseline' : ', no baseline'}`;
    this.header.append(
      h('h1', {}, `${s.command === 'sweep' ? 'Sweep' : 'Evaluation'}: ${this.primary!.name}`, ' ', status),
      h(
        'p',
        { class: 'meta' },
        `model ${baseName(s.model.path)} (${s.model.modelType}) · data ${s.data.name} · ${items} records (${s.split}) · scoring ${s.scoring} · ${interventions} · ${run.provider} · ${new Date(run.createdAt).toLocaleString()}`,
      ),
      h('p', { class: 'meta path' }, path),
    );
    const unparsed = unparsedWarning(run);
    const warnings = [...(unparsed ? [unparsed] : []), ...(run.warnings ?? [])];
    if (warnings.length) this.header.append(h('ul', { class: 'warnings', id: 'run-warnings' }, ...warnings.map((w) => h('li', {}, w))));
    const compareRow = h('div', { class: 'compare-row' });
    const pick = h('vscode-button', { id: 'pick-compare', secondary: true, icon: 'diff' }, this.compare ? 'Compare with another run…' : 'Compare with a run…');
    pick.addEventListener('click', () => this.channel.post({ type: 'pickCompare' }));
    compareRow.append(pick);
    if (this.compare) {
      const clearBtn = h('vscode-button', { id: 'clear-compare', secondary: true, icon: 'close' }, 'Remove comparison');
      clearBtn.addEventListener('click', () => {
        this.channel.post({ type: 'clearCompare' });
        this.show(this.primary!, null);
      });
      const names = runLabels([
        { key: 'A', run: this.primary!.run },
        { key: 'B', run: this.compare.run },
      ]);
      compareRow.append(
        h('span', { class: 'compare-legend' }, `A: ${names.get('A')} (solid, filled) · B: ${names.get('B')} (hollow triangles, outlined band)`),
        clearBtn,
      );
    }
    this.header.append(compareRow);
    if (this.compare) this.header.append(this.differences(this.primary!.run, this.compare.run));
  }

  /** What differs between the two runs, model and data first: a comparison across them is said to be one. */
  private differences(a: RunFile, b: RunFile): HTMLElement {
    const diffs = runDifferences(a, b);
    if (diffs.length === 0) return h('p', { class: 'meta', id: 'compare-differences' }, 'A and B have the same setup: they differ only in when they ran.');
    const fundamental = diffs.filter((d) => d.fundamental).map((d) => d.name);
    return h(
      'div',
      { id: 'compare-differences', class: fundamental.length ? 'compare-diff warnings' : 'compare-diff' },
      h('p', {}, fundamental.length ? `A and B differ in ${fundamental.join(' and ')}: their accuracies measure different things. Every difference:` : 'A and B differ in:'),
      h(
        'table',
        { class: 'data-table' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, ''), h('th', { scope: 'col' }, 'A'), h('th', { scope: 'col' }, 'B'))),
        h('tbody', {}, ...diffs.map((d) => h('tr', { 'data-aspect': d.name }, h('th', { scope: 'row' }, d.name), h('td', {}, d.a), h('td', {}, d.b)))),
      ),
    );
  }

  private card(id: ChartId, title: string, description: string, parent: HTMLElement): ChartCard {
    this.cards.get(id)?.chart?.destroy();
    const c = new ChartCard(id, title, this.cardContext(), description);
    this.cards.set(id, c);
    parent.append(c.root);
    return c;
  }

  private renderCharts(t: Theme): void {
    const runs = [{ role: 'primary' as const, run: this.primary!.run }, ...(this.compare ? [{ role: 'compare' as const, run: this.compare.run }] : [])];
    const view = buildRunView(runs);
    const names = { primary: this.primary!.name, compare: this.compare?.name ?? '' };
    clear(this.accuracyPanel);
    for (const subset of SUBSETS) {
      const c = this.card(
        `accuracy-${subset}`,
        `${subsetTitle(subset)} accuracy per layer`,
        'Lines: intervention settings (dashed: random-direction control). Bars: Wilson 95% intervals. Band: no-intervention baseline and its interval. Click a point for its items.',
        this.accuracyPanel,
      );
      const has = view.series.some((s) => s.subset === subset) || view.bands.some((b) => b.subset === subset);
      if (!has) {
        c.setNote(`No ${subset} records in this run.`);
        c.canvas.parentElement!.hidden = true;
        continue;
      }
      // The legend lists every setting (and each run's baseline); the plot keeps its height
      // however many rows the legend needs.
      const entries = view.series.filter((s) => s.subset === subset).length + view.bands.filter((b) => b.subset === subset).length;
      (c.canvas.parentElement as HTMLElement).style.height = `${280 + Math.ceil(entries / 3) * 24}px`;
      c.chart = accuracyChart(c.canvas, view, subset, t, (p) => this.pick(p));
      c.setTable(accuracyTable(view, subset, names));
      const partial = view.series.some((s) => s.subset === subset && s.points.some((p) => !p.complete));
      const points = [...view.series.filter((s) => s.subset === subset).flatMap((s) => s.points), ...view.bands.filter((b) => b.subset === subset)];
      const unparsed = points.filter((p) => mostlyUnparsed(p)).length;
      c.setNote(
        [
          unparsed ? `⚠ ${unparsed} of ${points.length} result${points.length === 1 ? '' : 's'} here (drawn ✕) are mostly unparsed answers, counted as wrong: read them as answer-format failures, not accuracy.` : '',
          partial ? 'Partial run (still running, or cancelled or crashed): some points count only the items done.' : '',
        ]
          .filter(Boolean)
          .join(' '),
      );
    }

    clear(this.heatmapPanel);
    const maps: Heatmap[] = SUBSETS.map((s) => buildHeatmap(this.primary!.run, s));
    const domain = heatDomain(maps);
    for (const hm of maps) {
      const c = this.card(
        `heatmap-${hm.subset}`,
        `${subsetTitle(hm.subset)}: accuracy change vs baseline`,
        'Layer × setting; colour: change in accuracy (percentage points) against the no-intervention baseline on the same items, centred at 0. Click a cell for its items.',
        this.heatmapPanel,
      );
      if (!hm.baseline || hm.cells.length === 0) {
        c.setNote(!hm.baseline ? `This run has no ${hm.subset} baseline (evaluate with --with_baseline, or sweep), so there is no change to show.` : 'This run has no direction interventions.');
        c.canvas.parentElement!.hidden = true;
        continue;
      }
      (c.canvas.parentElement as HTMLElement).style.height = `${heatmapHeight(hm)}px`;
      c.chart = heatmapChart(c.canvas, hm, domain, t, (cell) => this.pickCell(hm, cell));
      c.setTable(heatmapTable(hm));
      const missing = hm.rows.length * hm.cols.length - hm.cells.length;
      c.setNote(
        `Baseline: ${pct(hm.baseline.accuracy)} (${hm.baseline.correct}/${hm.baseline.total}).` +
          (missing > 0 ? ` ${missing} cell(s) have no result (partial run or a grid that is not full).` : '') +
          (this.compare ? ' The matrix shows run A only.' : ''),
      );
    }
  }

  // -------------------------------------------------------------------------------------------
  // Drill-down

  private pick(p: AccuracyPick): void {
    if (p.kind === 'point') this.setDrill({ role: p.point.role, interventionId: p.point.interventionId, subset: p.point.subset });
    else this.setDrill({ role: p.band.role, interventionId: p.band.interventionId, subset: p.band.subset });
  }

  private pickCell(hm: Heatmap, cell: HeatCell): void {
    this.setDrill({ role: 'primary', interventionId: cell.interventionId, subset: hm.subset });
  }

  private setDrill(d: Pick<DrillSelection, 'role' | 'interventionId' | 'subset'>): void {
    this.ui.drill = { correctness: this.ui.drill?.correctness ?? 'all', itemId: null, ...d };
    this.persist();
    this.renderDrill();
    this.drill.scrollIntoView?.({ block: 'nearest' });
  }

  private renderDrill(): void {
    clear(this.drill);
    this.drill.append(h('h2', { id: 'drill-title' }, 'Items behind a point'));
    const d = this.ui.drill;
    const role: RunRole = d?.role ?? 'primary';
    const loaded = this.runOf(role) ?? this.primary!;
    const run = loaded.run;
    const slot = d ? slotOfIntervention(run, d.interventionId) : null;

    const controls = h('div', { class: 'drill-controls' });
    if (this.compare) {
      controls.append(
        select('drill-run', 'Run', [{ value: 'primary', label: `A: ${this.primary!.name}` }, { value: 'compare', label: `B: ${this.compare.name}` }], role, (v) => {
          const r = this.runOf(v as RunRole)!.run;
          const first = interventionsAtSlot(r, slot ?? '')[0] ?? interventionsAtSlot(r, drillLayerChoices(r)[0]?.value ?? '')[0];
          if (first) this.setDrill({ role: v as RunRole, interventionId: first.id, subset: d?.subset ?? 'all' });
        }),
      );
    }
    const layers = drillLayerChoices(run);
    const layerOptions = slot === null ? [{ value: '\u0000', label: 'choose a layer…' }, ...layers] : layers;
    controls.append(
      select('drill-layer', 'Layer', layerOptions, slot ?? '\u0000', (v) => {
        if (v === '\u0000') return;
        // Keep the setting when the new layer has it, so stepping through layers compares like with like.
        const here = interventionsAtSlot(run, v);
        const currentLabel = d ? interventionsAtSlot(run, slot ?? '').find((x) => x.id === d.interventionId)?.label : undefined;
        const next = here.find((x) => x.label === currentLabel) ?? here[0];
        if (next) this.setDrill({ role, interventionId: next.id, subset: d?.subset ?? 'all' });
      }),
    );
    if (d && slot !== null) {
      controls.append(
        select('drill-setting', 'Setting', interventionsAtSlot(run, slot).map((x) => ({ value: x.id, label: x.label })), d.interventionId, (v) =>
          this.setDrill({ role, interventionId: v, subset: d.subset }),
        ),
        select(
          'drill-subset',
          'Subset',
          [
            { value: 'all', label: 'all' },
            { value: 'reasoning', label: 'reasoning' },
            { value: 'memorization', label: 'memorization' },
          ],
          d.subset,
          (v) => {
            this.ui.drill = { ...d, subset: v as Subset | 'all', itemId: null };
            this.persist();
            this.renderDrill();
          },
        ),
        select(
          'drill-correctness',
          'Answers',
          [
            { value: 'all', label: 'all' },
            { value: 'correct', label: 'correct' },
            { value: 'wrong', label: 'wrong' },
            { value: 'unparsed', label: 'unparsed' },
          ],
          d.correctness,
          (v) => {
            this.ui.drill = { ...d, correctness: v as CorrectnessFilter, itemId: null };
            this.persist();
            this.renderDrill();
          },
        ),
      );
    }
    this.drill.append(controls);
    if (!d) {
      this.drill.append(h('p', { class: 'hint' }, 'Click a point, a cell or a baseline band in a chart, or choose a layer, to list the items behind it.'));
      return;
    }
    const result = resultById(run, d.interventionId)!;
    const items = drillItems(run, d);
    const correct = items.filter((i) => i.correct).length;
    this.drill.append(
      h(
        'p',
        { class: 'drill-summary', id: 'drill-summary' },
        `${this.compare ? `${ROLE_TAG[role]}: ` : ''}${result.intervention.kind === 'none' ? 'baseline (no intervention)' : result.intervention.id} · ${d.subset === 'all' ? 'both subsets' : d.subset} · ${d.correctness === 'all' ? '' : `${d.correctness} only · `}${items.length} item(s), ${correct} correct`,
      ),
    );
    this.drill.append(this.itemTable(items, d));
    if (items.length > MAX_ROWS) this.drill.append(h('p', { class: 'hint' }, `Showing the first ${MAX_ROWS} of ${items.length}; narrow with the filters above.`));
    if (d.itemId) {
      const item = result.items.find((i) => i.id === d.itemId);
      if (item) this.drill.append(this.itemDetail(run, result.intervention.kind === 'none' ? 'baseline' : result.intervention.id, item));
    }
  }

  private itemTable(items: RunItem[], d: DrillSelection): HTMLElement {
    const table = h('vscode-table', { id: 'drill-table', zebra: true, 'bordered-rows': true, resizable: true, 'aria-label': 'Items behind the selected point' });
    (table as unknown as { columns: string[] }).columns = ['9%', '11%', '30%', '8%', '8%', '8%', '26%'];
    // vscode-table scrolls its body inside a fixed height; sized to its rows (up to a cap) so a
    // short list leaves no gap and a long one scrolls instead of spilling over the item below.
    table.style.height = `${Math.min(420, 30 + Math.min(items.length, MAX_ROWS) * 24 + 2)}px`;
    const header = h('vscode-table-header', { slot: 'header' }, ...['id', 'subset', 'question', 'expected', 'parsed', 'correct', 'generated'].map((c) => h('vscode-table-header-cell', {}, c)));
    const body = h('vscode-table-body', { slot: 'body' });
    for (const item of items.slice(0, MAX_ROWS)) {
      const answer = item.generated ?? (item.optionLogprobs ? `log-probs: ${Object.entries(item.optionLogprobs).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(' · ')}` : '');
      const row = h(
        'vscode-table-row',
        { 'data-item': item.id, tabindex: 0, role: 'row', class: item.id === d.itemId ? 'selected' : undefined, title: 'Open beside its baseline generation' },
        h('vscode-table-cell', {}, item.id),
        h('vscode-table-cell', {}, item.subset),
        h('vscode-table-cell', { class: 'clip' }, item.question),
        h('vscode-table-cell', {}, item.expected),
        h('vscode-table-cell', {}, item.parsed ?? '—'),
        h('vscode-table-cell', { class: item.correct ? 'yes' : 'no' }, item.correct ? '✓ yes' : item.unparsed ? '✗ unparsed' : '✗ no'),
        h('vscode-table-cell', { class: 'clip mono' }, answer),
      );
      const open = () => {
        this.ui.drill = { ...d, itemId: item.id };
        this.persist();
        this.renderDrill();
        document.getElementById('item-detail')?.scrollIntoView?.({ block: 'nearest' });
      };
      row.addEventListener('click', open);
      row.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          open();
        }
      });
      body.append(row);
    }
    table.append(header, body);
    return table;
  }

  private itemDetail(run: RunFile, label: string, item: RunItem): HTMLElement {
    const base = baselineItemFor(run, item.id);
    const isBaseline = label === 'baseline';
    const samePrompt = base ? base.promptHash === item.promptHash : null;
    const column = (title: string, it: RunItem | null, cls: string) =>
      h(
        'div',
        { class: `generation ${cls}` },
        h('h4', {}, title),
        it
          ? h(
              'div',
              {},
              h(
                'dl',
                {},
                h('dt', {}, 'parsed'),
                h('dd', { class: 'parsed' }, it.parsed ?? '— (unparsed)'),
                h('dt', {}, 'correct'),
                h('dd', { class: it.correct ? 'yes' : 'no' }, it.correct ? 'yes' : 'no'),
                ...(it.stopReason ? [h('dt', {}, 'stopped'), h('dd', {}, it.stopReason)] : []),
                ...(it.newTokens !== undefined ? [h('dt', {}, 'tokens'), h('dd', {}, `${it.promptTokens ?? '?'} prompt + ${it.newTokens} generated`)] : []),
              ),
              it.optionLogprobs
                ? h(
                    'table',
                    { class: 'data-table logprobs' },
                    h('caption', {}, 'log-probability of each option letter'),
                    h('tbody', {}, ...Object.entries(it.optionLogprobs).map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', { class: 'num' }, v.toFixed(4))))),
                  )
                : null,
              h('pre', { class: 'generated' }, it.generated ?? (it.optionLogprobs ? '(scored by option log-probability: nothing generated)' : '(no generated text recorded)')),
            )
          : h('p', { class: 'hint' }, 'This run has no baseline result for this item.'),
      );
    return h(
      'section',
      { id: 'item-detail', class: 'item-detail', 'aria-label': `Item ${item.id}` },
      h('h3', {}, `Item ${item.id}`, item.category ? ` · ${item.category}` : '', ` · ${item.subset} · expected ${item.expected}`),
      h('pre', { class: 'question' }, item.question),
      samePrompt === false ? h('p', { class: 'warnings' }, `The prompts differ (hash ${item.promptHash} vs baseline ${base!.promptHash}).`) : null,
      samePrompt === true ? h('p', { class: 'meta' }, `Same prompt under both (hash ${item.promptHash}).`) : null,
      h(
        'div',
        { class: 'side-by-side' },
        column(isBaseline ? 'Baseline (no intervention)' : `With ${label}`, item, 'intervened'),
        isBaseline ? null : column('Baseline (no intervention)', base, 'baseline'),
      ),
    );
  }
}
