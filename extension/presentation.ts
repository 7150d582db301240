/**
 * Decisions about what the user sees, as plain functions: the status-bar item, progress
 * increments, how a failed request is worded, and which commands need a trusted workspace.
 */
import * as path from 'node:path';
import { describeProgress, type JobProgress } from '../runtime/protocol/jobs';
import type { ModelInfo } from '../runtime/protocol/requests';
import type { ActiveJobProgress, RuntimeRequestError } from './runtimeClient';
import type { RuntimeState } from './runtimeState';

export interface StatusInput {
  state: RuntimeState;
  trusted: boolean;
  /** Set when the restart budget ran out. */
  gaveUp?: string;
  model?: ModelInfo;
  progress?: ActiveJobProgress;
}

export interface StatusView {
  text: string;
  tooltip: string;
  /** Command run on click. */
  command: string;
  /** Shown with the error background. */
  alert: boolean;
}

export function statusBarView(s: StatusInput): StatusView {
  if (!s.trusted) {
    return {
      text: '$(shield) LayerLab: restricted',
      tooltip: 'This workspace is not trusted: LayerLab can browse models, datasets and results but will not run models.',
      command: 'workbench.trust.manage',
      alert: false,
    };
  }
  const model = s.model ? ` · ${s.model.provider.toUpperCase()} · ${path.basename(s.model.path)}` : '';
  const modelTip = s.model
    ? `\nModel: ${s.model.path}\n${s.model.architecture}, ${s.model.nBlocks} blocks, d_model ${s.model.dModel}\nProvider: ${s.model.provider.toUpperCase()}${s.model.providerNote ? ` (${s.model.providerNote})` : ''}`
    : '\nNo model loaded (LayerLab: Select Model).';
  switch (s.state) {
    case 'stopped':
      return { text: '$(circle-outline) LayerLab', tooltip: 'LayerLab runtime: not running (it starts when a command needs it).', command: 'layerlab.showLog', alert: false };
    case 'starting':
      return { text: '$(loading~spin) LayerLab: starting', tooltip: 'LayerLab runtime: starting…', command: 'layerlab.showLog', alert: false };
    case 'ready':
      return { text: `$(beaker) LayerLab${model || ': ready'}`, tooltip: `LayerLab runtime: ready${modelTip}`, command: s.model ? 'layerlab.showLog' : 'layerlab.selectModel', alert: false };
    case 'busy': {
      const p = s.progress && s.progress.total > 0 ? ` ${Math.floor((100 * s.progress.done) / s.progress.total)}%` : '';
      return {
        text: `$(sync~spin) LayerLab${p}${model}`,
        tooltip: `LayerLab runtime: busy${s.progress ? ` (${s.progress.job}: ${describeProgress(s.progress)})` : ''}${modelTip}`,
        command: 'layerlab.showLog',
        alert: false,
      };
    }
    case 'crashed':
      return s.gaveUp
        ? { text: '$(error) LayerLab: stopped', tooltip: `${s.gaveUp}\nClick to restart the runtime.`, command: 'layerlab.restartRuntime', alert: true }
        : { text: '$(error) LayerLab: crashed', tooltip: 'LayerLab runtime crashed; restarting…', command: 'layerlab.showLog', alert: true };
  }
}

/**
 * VS Code's progress takes increments in percent; the runtime reports done/total. Returns the
 * increment to report and the new cumulative percentage (never backwards, never past 100).
 */
export function progressStep(reportedPercent: number, p: Pick<JobProgress, 'done' | 'total'>): { increment: number; percent: number } {
  if (!(p.total > 0)) return { increment: 0, percent: reportedPercent };
  const percent = Math.min(100, Math.max(reportedPercent, (100 * p.done) / p.total));
  return { increment: percent - reportedPercent, percent };
}

export interface FailureView {
  severity: 'info' | 'warning' | 'error';
  message: string;
  /** Buttons: command ids with their titles. */
  actions: { title: string; command: string }[];
}

/** How a failed command is reported: what failed, and what to do about it. */
export function describeFailure(title: string, e: RuntimeRequestError | Error): FailureView {
  const kind = (e as RuntimeRequestError).kind as RuntimeRequestError['kind'] | undefined;
  const hint = (e as RuntimeRequestError).hint;
  const withHint = (m: string) => (hint ? `${/[.!?]$/.test(m) ? m : `${m}.`} ${hint}` : m);
  const log = { title: 'Show Runtime Log', command: 'layerlab.showLog' };
  switch (kind) {
    case 'cancelled':
      return { severity: 'info', message: `LayerLab: ${title} was cancelled. Finished work is kept; running it again resumes where possible.`, actions: [] };
    case 'busy':
      return { severity: 'warning', message: withHint(`LayerLab: ${title} did not start: ${e.message}.`), actions: [] };
    case 'usage':
    case 'model':
    case 'data':
    case 'io':
      return { severity: 'error', message: withHint(`LayerLab: ${title} failed: ${e.message}`), actions: [log] };
    case 'crashed':
      return {
        severity: 'error',
        message: withHint(`LayerLab: ${title} failed because ${e.message.replace(/^The /, 'the ')}`),
        actions: [log, { title: 'Restart Runtime', command: 'layerlab.restartRuntime' }],
      };
    case 'stopped':
      return { severity: 'warning', message: `LayerLab: ${title} stopped because the runtime was shut down.`, actions: [] };
    default:
      return { severity: 'error', message: withHint(`LayerLab: ${title} failed: ${e.message}`), actions: [log] };
  }
}

/** Commands that run a model or start the runtime: refused in untrusted workspaces. */
export const COMMANDS_NEEDING_TRUST: ReadonlySet<string> = new Set([
  'layerlab.saveHiddenStates',
  'layerlab.computeDirections',
  'layerlab.evaluate',
  'layerlab.sweep',
  'layerlab.selectModel',
  'layerlab.restartRuntime',
  'layerlab.runDemo',
]);

export function untrustedMessage(title: string): string {
  return (
    `LayerLab: ${title} needs a trusted workspace, because it runs models from this workspace's files. ` +
    `Browsing models, datasets and results works without trust.`
  );
}
