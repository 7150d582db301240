/**
 * Chart colours and fonts from VS Code's theme. A webview receives the workbench theme as CSS
 * variables on <html> (`--vscode-charts-blue`, `--vscode-editor-foreground`, …) and a body class
 * (`vscode-light`, `vscode-dark`, `vscode-high-contrast`, `vscode-high-contrast-light`); both
 * change in place when the user switches themes, so charts read them at draw time and are
 * redrawn on change. Canvas drawing cannot use `var(…)`, hence the resolved values here.
 */
import { parseColor, toCss, withAlpha, type Rgba } from './model/color';

export type ThemeKind = 'light' | 'dark' | 'high-contrast' | 'high-contrast-light';

export interface Theme {
  kind: ThemeKind;
  foreground: Rgba;
  /** Secondary text (axis titles, notes). */
  muted: Rgba;
  background: Rgba;
  grid: Rgba;
  /** Series colours in order; a setting keeps its colour across charts. */
  palette: Rgba[];
  negative: Rgba;
  positive: Rgba;
  fontFamily: string;
  fontSize: number;
}

// VS Code's Dark Modern values, used only when a variable is missing (a page opened outside VS
// Code); inside VS Code every variable below is defined by the active theme.
const FALLBACK: Record<string, string> = {
  '--vscode-editor-foreground': '#cccccc',
  '--vscode-descriptionForeground': '#9d9d9d',
  '--vscode-editor-background': '#1f1f1f',
  '--vscode-charts-lines': 'rgba(204, 204, 204, 0.5)',
  '--vscode-charts-blue': '#3794ff',
  '--vscode-charts-orange': '#d18616',
  '--vscode-charts-green': '#89d185',
  '--vscode-charts-purple': '#b180d7',
  '--vscode-charts-red': '#f14c4c',
  '--vscode-charts-yellow': '#cca700',
};

let probe: CanvasRenderingContext2D | null = null;

/** Resolves any CSS colour (named, hsl, …) through a canvas, then parses it. */
function resolveColor(css: string, fallback: string): Rgba {
  const direct = parseColor(css);
  if (direct) return direct;
  probe ??= document.createElement('canvas').getContext('2d');
  if (probe && css) {
    probe.fillStyle = '#000001';
    probe.fillStyle = css;
    const got = parseColor(String(probe.fillStyle));
    if (got && String(probe.fillStyle) !== '#000001') return got;
  }
  return parseColor(fallback)!;
}

function cssVar(style: CSSStyleDeclaration, name: string): Rgba {
  return resolveColor(style.getPropertyValue(name).trim(), FALLBACK[name]!);
}

export function themeKind(): ThemeKind {
  const c = document.body.classList;
  if (c.contains('vscode-high-contrast-light')) return 'high-contrast-light';
  if (c.contains('vscode-high-contrast')) return 'high-contrast';
  if (c.contains('vscode-light')) return 'light';
  return 'dark';
}

export function readTheme(): Theme {
  const style = getComputedStyle(document.documentElement);
  const kind = themeKind();
  const foreground = cssVar(style, '--vscode-editor-foreground');
  const grid = cssVar(style, '--vscode-charts-lines');
  const hc = kind === 'high-contrast' || kind === 'high-contrast-light';
  const size = parseFloat(style.getPropertyValue('--vscode-font-size')) || 13;
  return {
    kind,
    foreground,
    muted: cssVar(style, '--vscode-descriptionForeground'),
    background: cssVar(style, '--vscode-editor-background'),
    // High-contrast themes want full-strength lines; elsewhere the grid stays quiet.
    grid: hc ? grid : withAlpha(grid, Math.min(grid.a, 0.35)),
    palette: ['--vscode-charts-blue', '--vscode-charts-orange', '--vscode-charts-green', '--vscode-charts-purple', '--vscode-charts-yellow', '--vscode-charts-red'].map((v) =>
      cssVar(style, v),
    ),
    negative: cssVar(style, '--vscode-charts-red'),
    positive: cssVar(style, '--vscode-charts-blue'),
    fontFamily: style.getPropertyValue('--vscode-font-family').trim() || 'system-ui, sans-serif',
    fontSize: Math.max(11, Math.min(16, size)),
  };
}

export function css(c: Rgba, alpha?: number): string {
  return toCss(alpha === undefined ? c : withAlpha(c, alpha));
}

/** Calls `fn` when the theme changes (body class or the variables on <html>). */
export function onThemeChange(fn: () => void): void {
  let scheduled = false;
  const fire = () => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      fn();
    });
  };
  const mo = new MutationObserver(fire);
  mo.observe(document.body, { attributes: true, attributeFilter: ['class'] });
  mo.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
}
