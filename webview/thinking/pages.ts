/**
 * The three reasoning-behaviour pages, drawn with the chart pages' parts (Chart.js setup and
 * plugins, chart cards with data tables and PNG/CSV export, theme colours):
 *  - layer effects: mean |effect| per layer and behaviour, exact patching solid and the
 *    finite-difference estimate dashed, ± one standard error, the selected layers enlarged;
 *  - vectors: ‖u‖ per layer and behaviour, and the cosine between behaviours at a chosen layer;
 *  - steering: per behaviour, the fraction of generated tokens in its spans under the baseline,
 *    ± its vector and ± a random vector (Wilson 95%), then a steered chain beside its baseline.
 */
import type { ChartDataset } from 'chart.js';
import { BEHAVIOURS, type Behaviour, type EffectsFile, type SteeringFile, type VectorStatsFile } from '../../runtime/protocol/thinking';
import type { ThinkingChartId, ThinkingPageState } from '../../runtime/protocol/thinkingWebview';
import type { ChartId } from '../../runtime/protocol/webview';
import { dodge } from '../charts/accuracy';
import { baseOptions, Chart, slotAxis } from '../charts/setup';
import { css, type Theme } from '../theme';
import { ChartCard, type CardContext } from '../ui/chartCard';
import { clear, h, select } from '../ui/dom';
import type { HostChannel } from '../vscodeApi';
import { behaviourColorIndex, effectSeries, effectsTable, normsTable, segments, STEERING_SERIES, steeringPoints, steeringTable } from './model';

export interface PageEnv {
  root: HTMLElement;
  channel: HostChannel;
  theme: Theme;
  name: string;
  state: ThinkingPageState;
  save(state: ThinkingPageState): void;
}

function cardContext(env: PageEnv): CardContext {
  return {
    channel: env.channel,
    exportStem: () => env.name.replace(/^.*\//, '').replace(/\.json$/, ''),
    tableShown: (id) => env.state.ui.tables.includes(id),
    setTableShown: (id, shown) => {
      const tables = env.state.ui.tables.filter((t) => t !== id);
      env.save({ ...env.state, ui: { ...env.state.ui, tables: shown ? [...tables, id] : tables } });
    },
  };
}

/** The chart cards take the chart pages' ids; these pages' ids are their own. */
const card = (id: ThinkingChartId, title: string, env: PageEnv, description?: string) => new ChartCard(id as unknown as ChartId, title, cardContext(env), description);

const color = (t: Theme, b: Behaviour, alpha?: number) => css(t.palette[behaviourColorIndex(b)]!, alpha);

function header(env: PageEnv, title: string, lines: string[]): HTMLElement {
  return h('header', { class: 'page-header' }, h('h2', {}, title), ...lines.map((l) => h('p', { class: 'hint' }, l)));
}

export function renderEffects(env: PageEnv, f: EffectsFile): void {
  const t = env.theme;
  clear(env.root);
  const metric = f.metric === 'kl' ? 'KL(P_clean ‖ P_patched), nats' : 'change of the log-probability of the next token';
  env.root.append(
    header(env, `Layer effects: ${env.name}`, [
      `Adding ${f.coefficient}·u at the token before each span, per layer: exact patching (solid) and the finite-difference estimate at step ${f.fdStep} (dashed); bars ± one standard error. Metric: ${metric}.`,
      `${f.timing.passes} batched passes, ${f.timing.patchesPerSecond.toFixed(1)} patches/s. Model ${f.model.path}.`,
    ]),
  );
  const c = card('thinking-effects', 'Mean |effect| per layer', env, 'Enlarged points: the layers selected for steering.');
  env.root.append(h('div', { class: 'card-grid single' }, c.root));
  const series = effectSeries(f);
  const datasets: ChartDataset<'line', { x: number; y: number; lo: number; hi: number }[]>[] = series.map((s, i) => ({
    label: `${s.category} (${s.kind})`,
    data: s.points.map((p) => ({ x: p.x + dodge(i % 2, 2), y: p.y, lo: p.lo, hi: p.hi })),
    borderColor: color(t, s.category),
    backgroundColor: color(t, s.category),
    borderDash: s.kind === 'estimate' ? [6, 4] : [],
    pointRadius: s.points.map((p) => (p.selected && s.kind === 'exact' ? 7 : 3)),
    pointStyle: s.kind === 'estimate' ? 'rectRot' : 'circle',
    borderWidth: s.kind === 'estimate' ? 1.5 : 2,
    tension: 0,
  }));
  const blocks = f.blocks;
  const labels = Array.from({ length: Math.max(...blocks) + 1 }, (_, i) => String(i));
  c.chart = new Chart(c.canvas, {
    type: 'line',
    data: { datasets },
    options: {
      ...baseOptions<'line'>(t),
      parsing: false,
      scales: {
        x: slotAxis(labels, 'layer (block)', t),
        y: { type: 'linear', beginAtZero: true, title: { display: true, text: 'mean |effect|', color: css(t.muted) }, grid: { color: css(t.grid) } },
      },
      plugins: { ...baseOptions<'line'>(t).plugins, layerlabErrorBars: { capWidth: 3, lineWidth: 1 } },
    },
  });
  c.setTable(effectsTable(f));
  c.setNote(
    f.categories
      .map((x) => `${x.category}: ${x.positions} positions in ${x.chains} chains, selected ${x.selected.map((h) => f.hooks[h]).join(', ')}, Spearman ρ(exact, estimate) ${x.spearman === null ? '—' : x.spearman.toFixed(2)}`)
      .join(' · '),
  );
}

export function renderVectors(env: PageEnv, f: VectorStatsFile): void {
  const t = env.theme;
  clear(env.root);
  env.root.append(
    header(env, `Behaviour vectors: ${env.name}`, [
      `Difference of means per layer from ${f.chains.count} chains (${f.chains.path}) and ${f.annotations.path}; model ${f.model.path}.`,
    ]),
  );
  const counts = h('table', { class: 'data-table', 'data-table': 'counts' }, h('caption', {}, 'Where each vector comes from'), h('thead', {}, h('tr', {}, ...['behaviour', 'chains', 'spans', 'token positions'].map((c) => h('th', { scope: 'col' }, c)))));
  const body = h('tbody');
  for (const c of f.categories) body.append(h('tr', {}, h('td', {}, c.category), h('td', { class: 'num' }, String(c.chains)), h('td', { class: 'num' }, String(c.spans)), h('td', { class: 'num' }, String(c.tokens))));
  counts.append(body);

  const norms = card('thinking-vector-norms', '‖u‖ per layer', env, 'Dashed: the norm of the mean activation every vector has subtracted.');
  const labels = f.hooks.map((hk) => hk.replace(/^blocks\.(\d+)\.hook_resid_/, '$1 '));
  const datasets: ChartDataset<'line', { x: number; y: number }[]>[] = [
    ...f.categories.map((c) => ({ label: c.category, data: c.norms.map((y, x) => ({ x, y })), borderColor: color(t, c.category), backgroundColor: color(t, c.category), tension: 0, pointRadius: 3 })),
    { label: 'mean activation', data: f.meanNorms.map((y, x) => ({ x, y })), borderColor: css(t.muted), backgroundColor: css(t.muted), borderDash: [6, 4], tension: 0, pointRadius: 2 },
  ];
  norms.chart = new Chart(norms.canvas, {
    type: 'line',
    data: { datasets },
    options: { ...baseOptions<'line'>(t), parsing: false, scales: { x: slotAxis(labels, 'hook point', t), y: { type: 'linear', beginAtZero: true, grid: { color: css(t.grid) } } } },
  });
  norms.setTable(normsTable(f));

  const hook = env.state.ui.hook && f.hooks.includes(env.state.ui.hook) ? env.state.ui.hook : f.hooks[f.hooks.length - 1]!;
  const h0 = f.hooks.indexOf(hook);
  const cos = h('table', { class: 'data-table', 'data-table': 'cosine' }, h('caption', {}, `Cosine between the behaviours' vectors at ${hook}`));
  cos.append(h('thead', {}, h('tr', {}, h('th', {}, ''), ...f.categories.map((c) => h('th', { scope: 'col' }, c.category)))));
  const cb = h('tbody');
  f.categories.forEach((a, i) => {
    cb.append(
      h('tr', {}, h('th', { scope: 'row' }, a.category), ...f.categories.map((_, j) => {
        const v = f.cosine[h0]![i]![j];
        const td = h('td', { class: 'num', 'data-value': v === null || v === undefined ? '' : String(v) }, v === null || v === undefined ? '—' : v.toFixed(3));
        // Colour by sign and size (CSSOM: the page's CSP allows no style attributes).
        if (typeof v === 'number') td.style.backgroundColor = css(v >= 0 ? t.positive : t.negative, Math.min(0.6, Math.abs(v) * 0.6));
        return td;
      })),
    );
  });
  cos.append(cb);
  const picker = select('cosine-hook', 'Layer', f.hooks.map((x) => ({ value: x, label: x })), hook, (v) => {
    env.save({ ...env.state, ui: { ...env.state.ui, hook: v } });
    renderVectors({ ...env, state: { ...env.state, ui: { ...env.state.ui, hook: v } } }, f);
  });
  env.root.append(h('div', { class: 'card-grid single' }, norms.root), h('section', { class: 'card' }, h('h3', {}, 'Cosine between behaviours'), picker, cos), counts);
}

export function renderSteering(env: PageEnv, f: SteeringFile): void {
  const t = env.theme;
  clear(env.root);
  env.root.append(
    header(env, `Steering: ${env.name}`, [
      `${f.tasks.ids.length} held-out tasks, ${f.conditions.length} conditions, re-annotated with the ${f.annotator.kind} annotator${f.complete ? '' : ' (partial: the run is still going or was stopped)'}.`,
      'Fraction of generated tokens inside spans of each behaviour, with Wilson 95% intervals (tokens counted as independent).',
    ]),
  );
  const { categories, points } = steeringPoints(f);
  const c = card('thinking-steering', 'Behaviour fraction: baseline, ± vector, ± random vector', env);
  const data: ChartDataset<'line', { x: number; y: number; lo: number; hi: number }[]>[] = STEERING_SERIES.map((s, i) => {
    const stroke = s === 'baseline' ? css(t.foreground) : css(t.palette[[0, 0, 1, 2, 3][i]!]!);
    return {
      label: s,
      data: points.filter((p) => p.series === s).map((p) => ({ x: p.slot + dodge(i, STEERING_SERIES.length), y: p.fraction, lo: p.lo, hi: p.hi })),
      borderColor: stroke,
      backgroundColor: stroke,
      showLine: false,
      pointStyle: s.startsWith('random') ? 'rectRot' : s === 'baseline' ? 'line' : s === '+' ? 'triangle' : 'circle',
      pointRadius: 5,
      borderDash: s.startsWith('random') ? [4, 3] : [],
    };
  });
  c.chart = new Chart(c.canvas, {
    type: 'line',
    data: { datasets: data },
    options: {
      ...baseOptions<'line'>(t),
      parsing: false,
      scales: { x: slotAxis(categories, 'behaviour steered', t, false), y: { type: 'linear', beginAtZero: true, title: { display: true, text: 'fraction of tokens', color: css(t.muted) }, grid: { color: css(t.grid) } } },
      plugins: { ...baseOptions<'line'>(t).plugins, layerlabErrorBars: { capWidth: 4, lineWidth: 1.25 } },
    },
  });
  c.setTable(steeringTable(f));
  env.root.append(h('div', { class: 'card-grid single' }, c.root));

  // Side by side: a steered chain and the baseline chain of the same task.
  const steered = f.conditions.filter((x) => x.kind !== 'baseline');
  const base = f.conditions.find((x) => x.kind === 'baseline');
  if (!steered.length || !base) return;
  const ui = env.state.ui;
  const condition = steered.find((x) => x.id === ui.condition) ?? steered[0]!;
  const task = f.tasks.ids.includes(ui.task ?? '') ? ui.task! : f.tasks.ids[0]!;
  const redraw = (patch: Partial<ThinkingPageState['ui']>) => {
    const state = { ...env.state, ui: { ...env.state.ui, ...patch } };
    env.save(state);
    renderSteering({ ...env, state }, f);
  };
  const column = (title: string, id: string, chain: SteeringFile['conditions'][number]['chains'][number] | undefined) => {
    const body = h('div', { class: 'chain-text', 'data-chain': id });
    for (const seg of chain ? segments(chain) : []) {
      if (!seg.categories.length) {
        body.append(seg.text);
        continue;
      }
      const span = h('mark', { class: 'behaviour-span', 'data-categories': seg.categories.join(' '), title: seg.categories.join(', ') }, seg.text);
      span.style.background = 'transparent';
      span.style.color = 'inherit';
      span.style.borderBottom = `2px solid ${color(t, seg.categories[0]!)}`;
      span.style.backgroundColor = color(t, seg.categories[0]!, 0.18);
      body.append(span);
    }
    return h('section', { class: 'card chain-column' }, h('h3', {}, title), body);
  };
  const legend = h('p', { class: 'hint behaviour-legend' }, ...BEHAVIOURS.flatMap((b) => {
    const sw = h('span', { class: 'swatch' }, ' ■ ');
    sw.style.color = color(t, b);
    return [sw, b];
  }));
  const pickers = h(
    'div',
    { class: 'card-controls' },
    select('steer-condition', 'Condition', steered.map((x) => ({ value: x.id, label: x.id })), condition.id, (v) => redraw({ condition: v })),
    select('steer-task', 'Task', f.tasks.ids.map((x) => ({ value: x, label: x })), task, (v) => redraw({ task: v })),
  );
  const grid = h('div', { class: 'card-grid side-by-side' }, column(`baseline · ${task}`, 'baseline', base.chains.find((x) => x.task === task)), column(`${condition.id} · ${task}`, 'steered', condition.chains.find((x) => x.task === task)));
  grid.style.display = 'grid';
  grid.style.gridTemplateColumns = '1fr 1fr';
  env.root.append(h('section', { class: 'card', 'data-view': 'side-by-side' }, h('h3', {}, 'Steered beside unsteered'), pickers, legend, grid));
}
