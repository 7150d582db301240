import type { OptionSpec } from './args';

/** Where a command writes: results on stdout, logs and progress on stderr. */
export interface CommandIO {
  out(text: string): void;
  log(text: string): void;
}

/** What a command may return besides its stdout. */
export interface CommandResult {
  /** Files written that the user may want to open, most useful first. */
  files?: string[];
}

export interface Command {
  name: string;
  summary: string;
  options: OptionSpec;
  /** Positional arguments, for the usage line. */
  positionals?: string;
  /**
   * `signal` aborts long work (Ctrl-C in the CLI, Cancel in the editor). A command may return
   * the files it wrote (caches, directions, runs): the CLI ignores them, the runtime server's
   * job (cliJob) passes them on so the editor can offer to open them.
   */
  run(argv: string[], io: CommandIO, signal?: AbortSignal): Promise<CommandResult | void>;
}
