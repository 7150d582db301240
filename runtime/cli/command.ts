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
  run(argv: string[], io: CommandIO): Promise<void>;
}
