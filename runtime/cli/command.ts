import type { OptionSpec } from './args';

/** Where a command writes: results on stdout, logs and progress on stderr. */
export interface CommandIO {
  out(text: string): void;
  log(text: string): void;
}

export interface Command {
  name: string;
  summary: string;
  options: OptionSpec;
  /** Positional arguments, for the usage line. */
  positionals?: string;
  /** `signal` aborts long work (Ctrl-C in the CLI, Cancel in the editor). */
  run(argv: string[], io: CommandIO, signal?: AbortSignal): Promise<void>;
}
