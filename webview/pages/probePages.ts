/**
 * The probing pages: Logit Lens (layer × position grid of the top next token), Show Projection
 * (the prompt's tokens coloured by x·d̂ at a chosen layer, with a legend, a hover chart across
 * layers and the matrix of every layer), and Steer & Compare (a form, both generations side by
 * side, their word diff and the per-token KL). Each keeps what it shows in the page state, so a
 * reload restores it; charts export PNG and CSV through their cards.
 */
import {
  PROJECTION_EDITED_COLOR_ID,
  PROJECTION_LEVELS,
  projectionColorId,
  sparklineGeometry,
  themeColorVariable,
  type SteerCompareResult,
} from '../../runtime/protocol/probe';
import { STEER_METHOD_HELP, STEER_METHODS, STEER_NORMS, STEER_POSITIONS, strengthMeaning, type SteerMethod } from '../../runtime/protocol/steering';
import type { ChartId, CompareForm, ShowCompareMessage, ShowLensMessage, ShowProjectionMessage } from '../../runtime/protocol/webview';
import { gridHeight, klChart, lensChart, projectionMatrixChart } from '../charts/probe';
import { acrossLayers, klBars, klTable, lensGrid, lensTable, projectionLayer, projectionTable, tokenLabel } from '../model/probe';
import { readTheme } from '../theme';
import { ChartCard, type CardContext } from '../ui/chartCard';
import { clear, h, select } from '../ui/dom';
import type { HostChannel } from '../vscodeApi';

/** Chart cards of one page, with its exported file stem and its data-table toggles. */
class Cards {
  readonly tables = new Set<ChartId>();
  private readonly cards = new Map<ChartId, ChartCard>();

  constructor(
    private readonly channel: HostChannel,
    private readonly stem: () => string,
    private readonly persist: () => void,
    saved: ChartId[] = [],
  ) {
    for (const id of saved) this.tables.add(id);
  }

  card(id: ChartId, title: string, description: string, parent: HTMLElement): ChartCard {
    this.cards.get(id)?.chart?.destroy();
    const ctx: CardContext = {
      channel: this.channel,
      exportStem: this.stem,
      tableShown: (x) => this.tables.has(x),
      setTableShown: (x, shown) => {
        if (shown) this.tables.add(x);
        else this.tables.delete(x);
        this.persist();
      },
    };
    const c = new ChartCard(id, title, ctx, description);
    this.cards.set(id, c);
    parent.append(c.root);
    return c;
  }
}

function stemOf(text: string): string {
  return text.replace(/[^\w]+/g, '-').replace(/^-|-$/g, '').slice(0, 40) || 'prompt';
}

// ---------------------------------------------------------------------------------------------

export class LensPage {
  private message: ShowLensMessage | null = null;
  private readonly header = h('header', { class: 'page-header' });
  private readonly body = h('div', { class: 'card-grid single' });
  private readonly cards: Cards;

  constructor(
    root: HTMLElement,
    private readonly channel: HostChannel,
    saved: { tables?: ChartId[] } | undefined,
  ) {
    this.cards = new Cards(channel, () => `logit-lens-${stemOf(this.message?.lens.prompt.text ?? '')}`, () => this.persist(), saved?.tables);
    clear(root);
    root.append(this.header, this.body);
  }

  show(m: ShowLensMessage): void {
    this.message = m;
    this.persist();
    this.render();
  }

  render(): void {
    const m = this.message;
    if (!m) return;
    const r = m.lens;
    clear(this.header);
    this.header.append(
      h('h1', {}, `Logit lens: ${m.model}`),
      h('p', { class: 'meta prompt-text' }, r.prompt.text),
      h('p', { class: 'meta' }, `${r.hooks.length} layers × ${r.prompt.tokens.length} positions · top ${r.topK}${r.steering ? ` · steered: ${r.steering.method} s=${r.steering.strength} at ${r.steering.hooks.map((x) => x.hook).join(', ')}` : ''}`),
    );
    clear(this.body);
    const c = this.cards.card('logit-lens', 'Top next token per layer and position', 'The model\u2019s final norm and unembedding applied to each layer\u2019s residual stream. Colour: probability of the top token. Hover a cell for its top-k; the last row is the model\u2019s own output.', this.body);
    const g = lensGrid(r);
    (c.canvas.parentElement as HTMLElement).style.height = `${gridHeight(g.rows.length)}px`;
    c.chart = lensChart(c.canvas, g, readTheme());
    c.setTable(lensTable(r));
  }

  private persist(): void {
    if (this.message) this.channel.setState({ page: 'lens', message: this.message, tables: [...this.cards.tables] });
  }
}

// ---------------------------------------------------------------------------------------------

const SVG_NS = 'http://www.w3.org/2000/svg';

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** The value across layers as a small line chart (the hover), in theme colours. */
function sparkline(values: number[], highlight: number): SVGElement {
  const width = 220;
  const height = 56;
  const { points, zeroY } = sparklineGeometry(values, width, height);
  const root = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'sparkline', role: 'img', 'aria-label': 'x·d̂ across layers' });
  root.append(
    svg('line', { x1: 4, x2: width - 4, y1: zeroY, y2: zeroY, class: 'sparkline-zero' }),
    svg('polyline', { points: points.map(([x, y]) => `${x},${y}`).join(' '), class: 'sparkline-line' }),
  );
  const [hx, hy] = points[highlight] ?? [0, zeroY];
  root.append(svg('circle', { cx: hx, cy: hy, r: 3.5, class: 'sparkline-dot' }));
  return root;
}

/** The CSS colour of a level: the theme colour package.json contributes, as VS Code gives it to webviews. */
export function levelColor(level: number): string {
  return `var(${themeColorVariable(projectionColorId(level))})`;
}

export class ProjectionPage {
  private message: ShowProjectionMessage | null = null;
  private hookIndex = 0;
  private readonly header = h('header', { class: 'page-header' });
  private readonly controls = h('div', { class: 'compare-row' });
  private readonly legend = h('div', { class: 'projection-legend', 'aria-label': 'colour scale' });
  private readonly text = h('div', { class: 'projection-text', id: 'projection-text' });
  private readonly tip = h('div', { class: 'token-tip', role: 'tooltip', hidden: true });
  private readonly matrix = h('div', { class: 'card-grid single' });
  private readonly cards: Cards;

  constructor(
    root: HTMLElement,
    private readonly channel: HostChannel,
    saved: { tables?: ChartId[] } | undefined,
  ) {
    this.cards = new Cards(channel, () => `projection-${stemOf(this.message?.projection.prompt.text ?? '')}`, () => this.persist(), saved?.tables);
    clear(root);
    root.append(this.header, this.controls, this.legend, this.text, this.tip, this.matrix);
  }

  show(m: ShowProjectionMessage): void {
    this.message = m;
    this.hookIndex = Math.max(0, m.projection.hooks.indexOf(m.hook));
    this.persist();
    this.render();
  }

  render(): void {
    const m = this.message;
    if (!m) return;
    const r = m.projection;
    clear(this.header);
    this.header.append(
      h('h1', {}, `Projection: ${m.model}`),
      h('p', { class: 'meta' }, `onto ${r.directionSource} · ${r.prompt.tokens.length} tokens × ${r.hooks.length} layers${r.editedPositions.length ? ` · steered at ${r.editedPositions.length} position(s), outlined` : ''}`),
    );
    clear(this.controls);
    this.controls.append(
      select('projection-layer', 'Layer', r.hooks.map((hook, i) => ({ value: hook, label: `${r.labels[i]} (${hook})` })), r.hooks[this.hookIndex]!, (v) => {
        this.hookIndex = r.hooks.indexOf(v);
        this.message = { ...m, hook: v };
        this.persist();
        this.renderText();
        this.channel.post({ type: 'projectionLayer', hook: v });
      }),
    );
    this.renderText();
    clear(this.matrix);
    const c = this.cards.card('projection-layers', 'x·d̂ per layer and token', 'Every layer\u2019s projection of every token onto the direction, each layer on its own scale (the token colours above use the chosen row).', this.matrix);
    (c.canvas.parentElement as HTMLElement).style.height = `${gridHeight(r.hooks.length)}px`;
    c.chart = projectionMatrixChart(c.canvas, r, readTheme());
    c.setTable(projectionTable(r));
  }

  private renderText(): void {
    const r = this.message!.projection;
    const view = projectionLayer(r, this.hookIndex);
    clear(this.legend);
    const swatches = [];
    for (let k = -PROJECTION_LEVELS; k <= PROJECTION_LEVELS; k++) {
      if (k === 0) continue;
      // Colours through the CSSOM: the page's CSP allows no inline style attributes.
      const swatch = h('span', { class: 'legend-swatch', 'data-level': k, title: `level ${k}` });
      swatch.style.backgroundColor = levelColor(k);
      swatches.push(swatch);
    }
    this.legend.append(
      h('span', { class: 'legend-label' }, `−${view.domain.toFixed(3)}`),
      ...swatches,
      h('span', { class: 'legend-label' }, `+${view.domain.toFixed(3)}`),
      h('span', { class: 'legend-label muted' }, `x·d̂ at ${view.label}; outlined: steered`),
    );
    clear(this.text);
    let at = 0;
    for (const t of view.tokens) {
      const tok = r.prompt.tokens[t.index]!;
      if (tok.start > at) this.text.append(r.prompt.text.slice(at, tok.start));
      if (tok.end <= tok.start) continue;
      const span = h(
        'span',
        {
          class: `token${t.edited ? ' edited' : ''}`,
          'data-token': t.index,
          'data-id': t.id,
          'data-level': t.level,
          'data-value': t.value,
          tabindex: 0,
        },
        t.text,
      );
      if (t.level !== 0) span.style.backgroundColor = levelColor(t.level);
      if (t.edited) span.style.outline = `1px solid var(${themeColorVariable(PROJECTION_EDITED_COLOR_ID)})`;
      span.addEventListener('mouseenter', () => this.showTip(span, t.index));
      span.addEventListener('focus', () => this.showTip(span, t.index));
      span.addEventListener('mouseleave', () => (this.tip.hidden = true));
      span.addEventListener('blur', () => (this.tip.hidden = true));
      this.text.append(span);
      at = tok.end;
    }
    if (at < r.prompt.text.length) this.text.append(r.prompt.text.slice(at));
  }

  private showTip(anchor: HTMLElement, token: number): void {
    const r = this.message!.projection;
    const values = acrossLayers(r, token);
    const t = r.prompt.tokens[token]!;
    clear(this.tip);
    this.tip.append(
      h('div', { class: 'tip-title' }, `${tokenLabel(t.piece)} · id ${t.id} · position ${token}${r.editedPositions.includes(token) ? ' · steered' : ''}`),
      h('div', {}, `x·d̂ at ${r.labels[this.hookIndex]}: ${values[this.hookIndex]!.toFixed(4)}`),
      sparkline(values, this.hookIndex),
      h('div', { class: 'muted' }, `${r.labels[0]} … ${r.labels.at(-1)}`),
    );
    const box = anchor.getBoundingClientRect();
    this.tip.style.left = `${Math.round(box.left + window.scrollX)}px`;
    this.tip.style.top = `${Math.round(box.bottom + window.scrollY + 4)}px`;
    this.tip.hidden = false;
  }

  private persist(): void {
    if (this.message) this.channel.setState({ page: 'projection', message: this.message, tables: [...this.cards.tables] });
  }
}

// ---------------------------------------------------------------------------------------------

function numberInput(id: string, label: string, value: number, attrs: Record<string, string | number> = {}): { wrap: HTMLElement; input: HTMLInputElement } {
  const input = h('input', { id, type: 'number', value, ...attrs }) as HTMLInputElement;
  return { wrap: h('label', { class: 'field' }, h('span', { class: 'field-label' }, label), input), input };
}

export class ComparePage {
  private message: ShowCompareMessage | null = null;
  private readonly header = h('header', { class: 'page-header' });
  private readonly form = h('form', { class: 'compare-form', id: 'compare-form' });
  private readonly status = h('p', { class: 'meta', role: 'status', 'aria-live': 'polite' });
  private readonly sides = h('div', { class: 'compare-sides' });
  private readonly diff = h('div', { class: 'compare-diff', id: 'compare-diff' });
  private readonly charts = h('div', { class: 'card-grid single' });
  private readonly cards: Cards;
  private slider: ReturnType<typeof setTimeout> | undefined;

  constructor(
    root: HTMLElement,
    private readonly channel: HostChannel,
    saved: { tables?: ChartId[] } | undefined,
  ) {
    this.cards = new Cards(channel, () => `steer-compare-${stemOf(this.message?.form.prompt ?? '')}`, () => this.persist(), saved?.tables);
    clear(root);
    root.append(this.header, this.form, this.status, this.sides, h('h2', {}, 'Diff (unsteered → steered)'), this.diff, this.charts);
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.run();
    });
  }

  show(m: ShowCompareMessage): void {
    const formChanged = !this.message || JSON.stringify(this.message.form) !== JSON.stringify(m.form) || JSON.stringify(this.message.source) !== JSON.stringify(m.source);
    this.message = m;
    this.persist();
    if (formChanged) this.renderForm();
    this.renderStatus();
    this.renderResult();
  }

  render(): void {
    if (!this.message) return;
    this.renderForm();
    this.renderStatus();
    this.renderResult();
  }

  /** The form as the user left it. */
  private readForm(): CompareForm {
    const v = (id: string) => (this.form.querySelector(`#${id}`) as HTMLInputElement | HTMLTextAreaElement | null)?.value ?? '';
    const sel = (id: string) => (this.form.querySelector(`#${id}`) as unknown as { value: string } | null)?.value ?? '';
    const num = (id: string, d: number) => (Number.isFinite(Number(v(id))) && v(id).trim() !== '' ? Number(v(id)) : d);
    const f = this.message!.form;
    return {
      prompt: v('compare-prompt'),
      steerHooks: v('compare-hooks').split(/[\s,]+/).filter(Boolean),
      steerMethod: (sel('compare-method') || f.steerMethod) as SteerMethod,
      steerStrength: num('compare-strength-value', f.steerStrength),
      steerTarget: num('compare-target', f.steerTarget),
      steerNorm: (sel('compare-norm') || f.steerNorm) as CompareForm['steerNorm'],
      steerPositions: (sel('compare-positions') || f.steerPositions) as CompareForm['steerPositions'],
      maxNewTokens: Math.max(0, Math.round(num('compare-tokens', f.maxNewTokens))),
    };
  }

  private run(): void {
    const form = this.readForm();
    if (!form.steerHooks.length) {
      this.status.textContent = 'Name at least one hook point to steer.';
      return;
    }
    this.channel.post({ type: 'compareRun', form });
  }

  private renderForm(): void {
    const m = this.message!;
    const f = m.form;
    clear(this.header);
    const source = m.source.steerVector ? m.source.steerVector.split(/[\\/]/).pop()! : `contrast of ${(m.source.steerPositive ?? []).map((x) => x.split(/[\\/]/).pop()).join(', ')} and ${(m.source.steerNegative ?? []).map((x) => x.split(/[\\/]/).pop()).join(', ')}`;
    const change = h('vscode-button', { secondary: true, icon: 'folder-opened', id: 'compare-pick-vector' }, 'Other vector…');
    change.addEventListener('click', () => this.channel.post({ type: 'pickVector' }));
    this.header.append(h('h1', {}, `Steer & Compare: ${m.source.model.split(/[\\/]/).pop()}`), h('p', { class: 'meta' }, `vector: ${source} `, change));

    clear(this.form);
    const prompt = h('textarea', { id: 'compare-prompt', rows: 3, 'aria-label': 'Prompt' }) as HTMLTextAreaElement;
    prompt.value = f.prompt;
    const hooks = h('input', { id: 'compare-hooks', type: 'text', value: f.steerHooks.join(' '), 'aria-label': 'Hook points' });
    const range = h('input', { id: 'compare-strength', type: 'range', min: -20, max: 20, step: 0.1, value: f.steerStrength, 'aria-label': 'Strength' }) as HTMLInputElement;
    const strength = numberInput('compare-strength-value', 'Strength', f.steerStrength, { step: 'any' });
    // The slider and the number are one value; releasing the slider re-runs.
    range.addEventListener('input', () => (strength.input.value = range.value));
    range.addEventListener('change', () => {
      strength.input.value = range.value;
      clearTimeout(this.slider);
      this.slider = setTimeout(() => this.run(), 150);
    });
    strength.input.addEventListener('change', () => (range.value = strength.input.value));
    const meaning = h('span', { class: 'hint', id: 'compare-strength-meaning' }, strengthMeaning(f.steerMethod, f.steerNorm));
    const method = select('compare-method', 'Method', STEER_METHODS.map((x) => ({ value: x, label: `${x}: ${STEER_METHOD_HELP[x]}` })), f.steerMethod, (v) => {
      meaning.textContent = strengthMeaning(v as SteerMethod, this.readForm().steerNorm);
    });
    const norm = select('compare-norm', 'Strength unit', STEER_NORMS.map((x) => ({ value: x, label: x === 'relative' ? 'relative to the mean ‖x‖ (add, affine)' : 'absolute' })), f.steerNorm, () => undefined);
    const positions = select('compare-positions', 'Positions', STEER_POSITIONS.map((x) => ({ value: x, label: x === 'all' ? 'every position' : 'the last position' })), f.steerPositions, () => undefined);
    const target = numberInput('compare-target', 'Target t (affine)', f.steerTarget, { step: 'any' });
    const tokens = numberInput('compare-tokens', 'New tokens', f.maxNewTokens, { min: 0, max: 4096, step: 1 });
    const runButton = h('vscode-button', { icon: 'play', id: 'compare-run' }, 'Run');
    runButton.addEventListener('click', () => this.run());
    const save = h('vscode-button', { secondary: true, icon: 'save', id: 'compare-save' }, 'Save as experiment');
    save.addEventListener('click', () => this.channel.post({ type: 'saveExperiment' }));
    this.form.append(
      h('label', { class: 'field wide' }, h('span', { class: 'field-label' }, 'Prompt'), prompt),
      h('div', { class: 'compare-row' },
        h('label', { class: 'field' }, h('span', { class: 'field-label' }, 'Hook points'), hooks),
        method,
        norm,
        positions,
      ),
      h('div', { class: 'compare-row' }, h('label', { class: 'field' }, h('span', { class: 'field-label' }, 'Strength slider'), range), strength.wrap, meaning),
      h('div', { class: 'compare-row' }, target.wrap, tokens.wrap, runButton, save),
    );
  }

  private renderStatus(): void {
    const m = this.message!;
    this.status.textContent = m.busy ? 'Running both generations…' : m.error ? `Failed: ${m.error}` : m.result ? describeSteering(m.result) : 'Press Run.';
    this.status.classList.toggle('warnings', !!m.error);
  }

  private renderResult(): void {
    const r = this.message!.result;
    clear(this.sides);
    clear(this.diff);
    clear(this.charts);
    if (!r) return;
    const side = (title: string, id: string, s: SteerCompareResult['base']) =>
      h('section', { class: 'compare-side', id }, h('h2', {}, title), h('p', { class: 'generation' }, h('span', { class: 'prompt-part' }, r.prompt.text), s.text), h('p', { class: 'meta' }, `${s.tokens.length} tokens · stopped: ${s.stopReason}`));
    this.sides.append(side('Unsteered', 'compare-base', r.base), side('Steered', 'compare-steered', r.steered));
    for (const part of r.diff) this.diff.append(part.op === 'same' ? document.createTextNode(part.text) : h(part.op === 'added' ? 'ins' : 'del', {}, part.text));
    const c = this.cards.card('steer-kl', 'KL(unsteered ‖ steered) per token', 'Both models fed the prompt and the unsteered text so far; the bar under each unsteered token is how far steering moves the distribution that predicted it.', this.charts);
    const bars = klBars(r);
    if (bars.length === 0) {
      c.setNote('The unsteered generation is empty.');
      return;
    }
    c.chart = klChart(c.canvas, bars, readTheme());
    c.setTable(klTable(r));
    const mean = r.kl.reduce((a, b) => a + b, 0) / r.kl.length;
    c.setNote(`mean ${mean.toFixed(4)} nats over ${r.kl.length} tokens; max ${Math.max(...r.kl).toFixed(4)}`);
  }

  private persist(): void {
    if (this.message) this.channel.setState({ page: 'compare', message: { ...this.message, busy: false }, tables: [...this.cards.tables] });
  }
}

function describeSteering(r: SteerCompareResult): string {
  const s = r.steering;
  return `${s.method} s=${s.strength}${s.method === 'affine' ? ` t=${s.target}` : ''}${s.norm === 'relative' ? ' (relative)' : ''} at ${s.hooks.map((x) => x.hook).join(', ')}, ${s.positions} positions · vector ${s.source}`;
}
