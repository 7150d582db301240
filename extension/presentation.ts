/**
 * Decisions about what the user sees, as plain functions: the status-bar item, progress
 * increments, how a failed request is worded, and which commands need a trusted workspace.
 */
import * as path from 'node:path';
import { describeProgress, formatSeconds, type JobName, type JobProgress } from '../runtime/protocol/jobs';
import { modelNameOf } from '../runtime/protocol/labels';
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

/** `42% · 3.1/s · ETA 2 min`: a job's progress as short as the status bar needs it. */
export function shortProgress(p: Pick<JobProgress, 'done' | 'total' | 'rate' | 'etaSeconds'>): string {
  const parts = [p.total > 0 ? `${Math.floor((100 * p.done) / p.total)}%` : ''];
  if (p.rate !== undefined) parts.push(`${p.rate >= 10 ? p.rate.toFixed(0) : p.rate.toFixed(1)}/s`);
  if (p.etaSeconds !== undefined) parts.push(`ETA ${formatSeconds(p.etaSeconds)}`);
  return parts.filter(Boolean).join(' · ');
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
  // A job has started once the client names it, a moment before the request makes the state busy.
  const state = s.state === 'ready' && s.progress ? 'busy' : s.state;
  switch (state) {
    case 'stopped':
      return { text: '$(circle-outline) LayerLab', tooltip: 'LayerLab runtime: not running (it starts when a command needs it).', command: 'layerlab.showLog', alert: false };
    case 'starting':
      return { text: '$(loading~spin) LayerLab: starting', tooltip: 'LayerLab runtime: starting…', command: 'layerlab.showLog', alert: false };
    case 'ready':
      return { text: `$(beaker) LayerLab${model || ': ready'}`, tooltip: `LayerLab runtime: ready${modelTip}`, command: s.model ? 'layerlab.showLog' : 'layerlab.selectModel', alert: false };
    case 'busy': {
      const p = s.progress;
      // The model the running job uses, which may not be the one held before it started: until
      // the runtime says it holds the job's model, the job is opening it.
      const jobModel = p?.model;
      const holdsJobModel = !jobModel || (s.model !== undefined && path.resolve(s.model.path) === path.resolve(jobModel));
      const where = holdsJobModel ? model : ` · opening ${modelNameOf(jobModel)}`;
      const progress = p && p.total > 0 ? ` ${shortProgress(p)}` : '';
      const jobTip = p ? `\nJob: ${p.job}${jobModel ? ` on ${jobModel}` : ''}${p.total > 0 ? ` — ${describeProgress(p)}` : ''}` : '';
      return {
        text: `$(sync~spin) LayerLab${progress}${where}`,
        tooltip: `LayerLab runtime: busy${jobTip}${holdsJobModel ? modelTip : `\nOpening ${jobModel}${s.model ? ` (releasing ${s.model.path})` : ''}`}`,
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

/**
 * What an interrupted job leaves behind (cancelled, or its runtime crashed): every job writes
 * atomically, so this is exactly what a rerun finds.
 */
export function jobAftermath(job: JobName): string {
  switch (job) {
    case 'save-hidden-states':
      return 'The batches already cached are kept: running Save Hidden States again resumes after them.';
    case 'compute-directions':
      return 'Nothing was written: the previous directions files are unchanged.';
    case 'evaluate':
    case 'sweep':
      return 'The run file keeps the items done so far, marked partial; the rest were not evaluated.';
    case 'demo':
      return 'Finished steps are kept: running the demo again resumes where possible.';
    default:
      return 'Nothing was written.';
  }
}

/** How a failed command is reported: what failed, what is lost and kept, and what to do about it. */
export function describeFailure(title: string, e: RuntimeRequestError | Error, job?: JobName): FailureView {
  const kind = (e as RuntimeRequestError).kind as RuntimeRequestError['kind'] | undefined;
  const hint = (e as RuntimeRequestError).hint;
  const withHint = (m: string) => (hint ? `${/[.!?]$/.test(m) ? m : `${m}.`} ${hint}` : m);
  const log = { title: 'Show Runtime Log', command: 'layerlab.showLog' };
  switch (kind) {
    case 'cancelled':
      return { severity: 'info', message: `LayerLab: ${title} was cancelled. ${job ? jobAftermath(job) : 'Finished work is kept; running it again resumes where possible.'}`, actions: [] };
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
        message: withHint(`LayerLab: ${title} failed because ${e.message.replace(/^The /, 'the ')}${/[.!?]$/.test(e.message) ? '' : '.'}${job ? ` ${jobAftermath(job)}` : ''}`),
        actions: [log, { title: 'Restart Runtime', command: 'layerlab.restartRuntime' }],
      };
    case 'stopped':
      return { severity: 'warning', message: `LayerLab: ${title} stopped because the runtime was shut down.`, actions: [] };
    default:
      return { severity: 'error', message: withHint(`LayerLab: ${title} failed: ${e.message}`), actions: [log] };
  }
}

/** Commands that need a running runtime: refused at once, before any question, once LayerLab gave up restarting it. */
export const COMMANDS_NEEDING_RUNTIME: ReadonlySet<string> = new Set([
  'layerlab.saveHiddenStates',
  'layerlab.computeDirections',
  'layerlab.evaluate',
  'layerlab.sweep',
  'layerlab.selectModel',
  'layerlab.checkModel',
  'layerlab.runDemo',
]);

/** Commands that run a model or start the runtime: refused in untrusted workspaces. */
export const COMMANDS_NEEDING_TRUST: ReadonlySet<string> = new Set([
  'layerlab.saveHiddenStates',
  'layerlab.computeDirections',
  'layerlab.evaluate',
  'layerlab.sweep',
  'layerlab.selectModel',
  'layerlab.checkModel',
  'layerlab.restartRuntime',
  'layerlab.runDemo',
]);

export function untrustedMessage(title: string): string {
  return (
    `LayerLab: ${title} needs a trusted workspace, because it runs models from this workspace's files. ` +
    `Browsing models, datasets and results works without trust.`
  );
}
