/**
 * Messages between the extension host and LayerLab's chart pages (webviews), defined once and
 * imported by both sides: extension/webviewHost.ts + extension/chartPanel.ts post and receive
 * them, webview/ renders from them. The host validates what a page sends (a page is less trusted
 * than the host: it runs third-party chart and UI code), the page trusts what the host sends.
 *
 * The handshake: a page posts `ready` once its script runs (and again after VS Code recreates a
 * hidden panel's document); only then does the host post the files to draw. Posting earlier
 * would be lost, because a webview drops messages that arrive before its listener exists.
 *
 * Pages draw only from the files named here (RunFile, DirectionStatsFile): the persisted page
 * state keeps their paths and the host reads them again after a window reload, so a chart never
 * holds the only copy of a result (DESIGN.md "Files LayerLab writes").
 *
 * No imports from vscode, the DOM or Node here: this module is bundled into the webview too.
 */
import type { LogitLensResult, ProjectionResult, SteerCompareResult } from './probe';
import type { DirectionStatsFile, RunFile, Subset } from './results';
import type { SteerMethod, SteerNorm, SteerPositions } from './steering';

/** `WebviewPanel.viewType`s; a panel serializer per type restores pages after a reload. */
export const CHART_VIEW_TYPES = Object.freeze({
  run: 'layerlab.runChart',
  directions: 'layerlab.directionChart',
  lens: 'layerlab.logitLens',
  compare: 'layerlab.steerCompare',
  projection: 'layerlab.projection',
});

export type ChartPageKind = keyof typeof CHART_VIEW_TYPES;

/** A run file as read from disk, with where it came from (for titles and save dialogs). */
export interface LoadedRun {
  /** Absolute path of the run file. */
  path: string;
  /** A short name for legends: `<model folder>/<file name>`. */
  name: string;
  run: RunFile;
}

export interface LoadedDirections {
  path: string;
  name: string;
  stats: DirectionStatsFile;
}

/** Which of the two runs of a compare view a point, a series or a drill-down belongs to. */
export type RunRole = 'primary' | 'compare';

// ---------------------------------------------------------------------------------------------
// Host → page

/** The run page's data: after every `ready`, and after the user picks or clears a compare run. */
export interface ShowRunMessage {
  type: 'showRun';
  run: LoadedRun;
  /** The run overlaid for comparison (null: none). */
  compare: LoadedRun | null;
}

export interface ShowDirectionsMessage {
  type: 'showDirections';
  directions: LoadedDirections;
}

/** A shown file changed on disk (a partial run was checkpointed, or a rerun replaced it). */
export interface RunChangedMessage {
  type: 'runChanged';
  role: RunRole;
  run: LoadedRun;
}

/** The answer to `save`: where the file went, or null when the user dismissed the dialog. */
export interface SavedMessage {
  type: 'saved';
  requestId: string;
  path: string | null;
  error?: string;
}

/** A file the page needs could not be read (deleted, not a LayerLab file, invalid JSON). */
export interface LoadFailedMessage {
  type: 'loadFailed';
  path: string;
  message: string;
}

/** The logit lens of a prompt (logit-lens job result). */
export interface ShowLensMessage {
  type: 'showLens';
  lens: LogitLensResult;
  /** The model, for the header. */
  model: string;
}

/** Projections of a prompt's tokens onto a direction at every layer (projection job result). */
export interface ShowProjectionMessage {
  type: 'showProjection';
  projection: ProjectionResult;
  model: string;
  /** The layer the editor's decorations show (the page opens on it). */
  hook: string;
}

/** What the Steer & Compare form holds: the steering and generation choices the user can change. */
export interface CompareForm {
  prompt: string;
  steerHooks: string[];
  steerMethod: SteerMethod;
  steerStrength: number;
  steerTarget: number;
  steerNorm: SteerNorm;
  steerPositions: SteerPositions;
  maxNewTokens: number;
}

/** What Steer & Compare steers with and on: the model and the vector's source (steer-compare params). */
export interface CompareSource {
  model: string;
  steerVector?: string;
  steerTensor?: string;
  steerRow?: number;
  steerPositive?: string[];
  steerNegative?: string[];
}

/** The Steer & Compare panel's state: the fixed choices, the form, the last result, whether it runs. */
export interface ShowCompareMessage {
  type: 'showCompare';
  source: CompareSource;
  form: CompareForm;
  result: SteerCompareResult | null;
  busy: boolean;
  /** Why the last run failed (the form stays as it was). */
  error?: string;
}

export type HostToWebview =
  | ShowRunMessage
  | ShowDirectionsMessage
  | RunChangedMessage
  | SavedMessage
  | LoadFailedMessage
  | ShowLensMessage
  | ShowProjectionMessage
  | ShowCompareMessage;

// ---------------------------------------------------------------------------------------------
// Page → host

/** The page's script runs and listens: the host may post now. */
export interface ReadyMessage {
  type: 'ready';
  page: ChartPageKind;
}

/** Asks the host to let the user choose a second run to overlay (answered with `showRun`). */
export interface PickCompareMessage {
  type: 'pickCompare';
}

/** The overlay was removed: the host stops watching the compare file. */
export interface ClearCompareMessage {
  type: 'clearCompare';
}

export type ExportFormat = 'png' | 'csv';

/**
 * Save an exported chart (PNG) or its data (CSV). A webview cannot write files or open a save
 * dialog itself, so it posts the bytes and the host asks where to put them.
 */
export interface SaveMessage {
  type: 'save';
  /** Echoed in `saved`, so the page knows which export finished. */
  requestId: string;
  format: ExportFormat;
  /** Which chart (ChartId) the export is of, for the host's log. */
  chart: string;
  /** A suggested file name (no folders); the host proposes it beside the shown file. */
  fileName: string;
  /** PNG: base64 of the image bytes (no `data:` prefix). CSV: the text (UTF-8). */
  content: string;
}

/** A page-side error or notice for the LayerLab output channel. */
export interface LogMessage {
  type: 'log';
  level: 'info' | 'warn' | 'error';
  message: string;
}

/** Steer & Compare: run both generations with this form (the strength slider sends it too). */
export interface CompareRunMessage {
  type: 'compareRun';
  form: CompareForm;
}

/** Steer & Compare: choose another steering vector file. */
export interface PickVectorMessage {
  type: 'pickVector';
}

/** Steer & Compare: write the last result as a run file (`layerlab steer-compare --experiment`). */
export interface SaveExperimentMessage {
  type: 'saveExperiment';
}

/** Show Projection: the page's layer picker chose a hook; the editor's decorations follow. */
export interface ProjectionLayerMessage {
  type: 'projectionLayer';
  hook: string;
}

export type WebviewToHost =
  | ReadyMessage
  | PickCompareMessage
  | ClearCompareMessage
  | SaveMessage
  | LogMessage
  | CompareRunMessage
  | PickVectorMessage
  | SaveExperimentMessage
  | ProjectionLayerMessage;

/** The largest export a page may post (a 4k PNG is a few MB; CSVs of large runs stay far below). */
export const MAX_EXPORT_CHARS = 64 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Persisted page state (`vscode.getState()/setState()`, handed to the panel serializer)

/** The charts a page has; ids appear in exports, data-table toggles and test selectors. */
export type ChartId =
  | 'accuracy-reasoning'
  | 'accuracy-memorization'
  | 'heatmap-reasoning'
  | 'heatmap-memorization'
  | 'direction-auc'
  | 'direction-cohens-d'
  | 'direction-pearson-r'
  | 'projection-histogram'
  | 'logit-lens'
  | 'projection-layers'
  | 'steer-kl';

export type CorrectnessFilter = 'all' | 'correct' | 'wrong' | 'unparsed';

/** What the drill-down table shows: the items of one intervention of one run. */
export interface DrillSelection {
  role: RunRole;
  interventionId: string;
  subset: Subset | 'all';
  correctness: CorrectnessFilter;
  /** The item opened side by side with its baseline generation. */
  itemId: string | null;
}

export interface RunUiState {
  tab: 'accuracy' | 'heatmap';
  drill: DrillSelection | null;
  /** Charts whose accessible data table is shown instead of (below) the canvas. */
  tables: ChartId[];
}

export interface RunPageState {
  page: 'run';
  runPath: string;
  comparePath: string | null;
  ui: RunUiState;
}

export interface DirectionsUiState {
  /** Hook point of the projection histogram. */
  hook: string | null;
  split: 'all' | 'train' | 'heldout';
  tables: ChartId[];
}

export interface DirectionsPageState {
  page: 'directions';
  statsPath: string;
  ui: DirectionsUiState;
}

/** Probe pages keep what they show in their state: they draw job results, not files. */
export interface LensPageState {
  page: 'lens';
  message: ShowLensMessage;
  tables: ChartId[];
}

export interface ProjectionPageState {
  page: 'projection';
  message: ShowProjectionMessage;
  tables: ChartId[];
}

export interface ComparePageState {
  page: 'compare';
  message: ShowCompareMessage;
  tables: ChartId[];
}

export type ChartPageState = RunPageState | DirectionsPageState | LensPageState | ProjectionPageState | ComparePageState;
