/**
 * The reasoning-behaviour workflow end to end through the real `layerlab` CLI, as a user runs it:
 * generate-chains → annotate (rules) → behaviour-vectors → layer-effects → steer-eval, on a small
 * slice of the authored task set. Integration and webview tests read the files it writes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { authoredTasksJsonl } from '../../datasets/tasks';
import { runCli } from './cli';

export interface ThinkingRun {
  dir: string;
  tasks: string;
  chains: string;
  provenance: string;
  annotations: string;
  vectors: string;
  vectorStats: string;
  effects: string;
  steering: string;
  /** Each command as run, and its stdout. */
  commands: { argv: string[]; stdout: string; stderr: string }[];
}

export interface ThinkingRunOptions {
  /** Tasks the chains are generated from (the rest are held out for steering). */
  chainTasks: number;
  maxNewTokens: number;
  heldOut: number;
  steerTokens: number;
  env?: Record<string, string>;
}

export function runThinkingPipeline(model: string, dir: string, o: ThinkingRunOptions): ThinkingRun {
  fs.mkdirSync(dir, { recursive: true });
  const tasks = path.join(dir, 'tasks.jsonl');
  fs.writeFileSync(tasks, authoredTasksJsonl());
  const commands: ThinkingRun['commands'] = [];
  const cli = (args: string[]) => {
    const r = runCli(args, o.env ?? {});
    commands.push({ argv: args, stdout: r.stdout, stderr: r.stderr });
    if (r.status !== 0) throw new Error(`layerlab ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
    return r.stdout;
  };
  const chains = path.join(dir, 'run.chains.jsonl');
  cli(['generate-chains', '--model', model, '--tasks', tasks, '--sample_size', String(o.chainTasks), '--max_new_tokens', String(o.maxNewTokens), '--out', chains]);
  const annotations = path.join(dir, 'run.annotations.rules.jsonl');
  cli(['annotate', chains]);
  const vectors = path.join(dir, 'run.annotations.rules.vectors.safetensors');
  cli(['behaviour-vectors', annotations, '--model', model]);
  const effects = path.join(dir, 'run.annotations.rules.effects.json');
  cli(['layer-effects', vectors, '--model', model]);
  const steering = path.join(dir, 'run.annotations.rules.steering.json');
  cli(['steer-eval', vectors, '--model', model, '--held_out', String(o.heldOut), '--max_new_tokens', String(o.steerTokens)]);
  return {
    dir,
    tasks,
    chains,
    provenance: path.join(dir, 'run.chains.json'),
    annotations,
    vectors,
    vectorStats: vectors.replace(/\.safetensors$/, '.json'),
    effects,
    steering,
    commands,
  };
}
