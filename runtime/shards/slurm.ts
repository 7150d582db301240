/**
 * `layerlab slurm-script`: the batch script that runs a job as a Slurm array, one task per part
 * (`--shard $SLURM_ARRAY_TASK_ID/N`), and submits the merge as a job that starts when every task
 * has succeeded. The job's own flags are checked here, with the job's parser, so that a typo
 * fails on the login node and not in N queued tasks.
 */
import * as path from 'node:path';
import { parseArgv, shellQuote, UsageError } from '../protocol/argv';
import { JOBS, type JobParams } from '../protocol/jobs';
import { partFileName } from '../protocol/shards';
import { partExtensionOf, partsDirFor, unshardedArgv } from './paths';

export interface SlurmScript {
  script: string;
  partsDir: string;
  shardCommand: string;
  mergeCommand: string;
}

/** Values of #SBATCH lines are not shell words: sbatch splits them at white space. */
function sbatchValue(flag: string, v: string): string {
  if (/\s/.test(v)) throw new UsageError(`--${flag} '${v}' contains white space, which an #SBATCH line cannot carry: choose one without`);
  return v;
}

export function slurmScript(p: JobParams<'slurm-script'>, cwd = process.cwd()): SlurmScript {
  const job = JOBS[p.command];
  let inner: Record<string, unknown>;
  try {
    inner = parseArgv(job, p.args) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(`the flags of ${p.command}: ${e.message}`);
    throw e;
  }
  if (inner.shard !== undefined) throw new UsageError(`leave --shard out of the flags of ${p.command}: each array task adds its own (--shard $SLURM_ARRAY_TASK_ID/${p.shards})`);
  // ONNX Runtime's default (threads 0) is every core of the node, not of the allocation.
  if (p.cpusPerTask !== undefined && inner.threads === 0) inner = { ...inner, threads: p.cpusPerTask };
  const workdir = path.resolve(cwd, p.workdir ?? '.');
  const n = p.shards;
  const name = sbatchValue('job_name', p.jobName ?? `layerlab-${p.command}`);
  const argv = unshardedArgv(p.command, inner);
  const partsDir = partsDirFor(p.command, inner as { out?: string; outputPath: string }, workdir);
  const glob = `${shellQuote(partsDir)}/${partFileName({ index: 0, count: n }, partExtensionOf(p.command)).replace(/^part-0-/, 'part-*-')}`;
  const shardCommand = `${p.layerlab} ${[p.command, ...argv].map(shellQuote).join(' ')} --shard "$SLURM_ARRAY_TASK_ID/${n}"`;
  const mergeCommand = `${p.layerlab} merge ${glob}`;
  const common = [
    ...(p.partition ? [`--partition=${sbatchValue('partition', p.partition)}`] : []),
    ...(p.account ? [`--account=${sbatchValue('account', p.account)}`] : []),
    `--chdir=${sbatchValue('workdir', workdir)}`,
  ];
  const directives = [
    `--job-name=${name}`,
    `--array=0-${n - 1}`,
    '--ntasks=1',
    ...(p.cpusPerTask !== undefined ? [`--cpus-per-task=${p.cpusPerTask}`] : []),
    ...(p.gpusPerTask > 0 ? [`--gpus-per-task=${p.gpusPerTask}`] : []),
    ...(p.mem ? [`--mem=${sbatchValue('mem', p.mem)}`] : []),
    ...(p.time ? [`--time=${sbatchValue('time', p.time)}`] : []),
    ...common,
    '--output=slurm-%x-%A_%a.out',
  ];
  const mergeSubmit = ['sbatch', '--parsable', '--dependency=afterok:"$array_job"', '--kill-on-invalid-dep=yes', `--job-name=${name}-merge`, ...common, '--output=slurm-%x-%j.out', `--wrap=${shellQuote(mergeCommand)}`];
  const script = [
    '#!/bin/bash',
    `# LayerLab ${p.command} in ${n} parts as a Slurm array job, then a merge that waits for every part.`,
    '#',
    '#   bash THIS_SCRIPT     submits the array and the dependent merge (prints both job ids)',
    '#   sbatch THIS_SCRIPT   submits the array alone; the last part to finish merges the parts itself',
    '#',
    `# Task i runs part i of ${n} into ${path.join(partsDir, `part-<i>-of-${n}${partExtensionOf(p.command)}`)};`,
    p.command === 'save-hidden-states'
      ? '# a part killed or timed out resumes where it stopped when its task runs again, e.g.'
      : '# a part killed or timed out runs its share again when its task is resubmitted, e.g.',
    `# sbatch --array=${n - 1} THIS_SCRIPT (as the last part it merges; by hand: ${mergeCommand}).`,
    ...directives.map((d) => `#SBATCH ${d}`),
    'set -euo pipefail',
    'if [ -z "${SLURM_ARRAY_TASK_ID:-}" ]; then',
    '  # Not inside the array: submit it, then the merge that starts once every task has succeeded',
    '  # (and is cancelled, not left pending, if one fails).',
    '  array_job=$(sbatch --parsable "$0")',
    '  array_job=${array_job%%;*}',
    `  merge_job=$(${mergeSubmit.join(' ')})`,
    `  echo "submitted array job $array_job (${n} parts) and merge job $merge_job"`,
    '  exit 0',
    'fi',
    `exec ${shardCommand}`,
    '',
  ].join('\n');
  return { script, partsDir, shardCommand, mergeCommand };
}
