/**
 * Command-line parsing on top of node's util.parseArgs. The seed's flags are snake_case
 * (`--data_file_path`); kebab-case (`--data-file-path`) is accepted as an alias of each.
 */
import { parseArgs } from 'node:util';

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean; default?: string | boolean | string[]; help: string }>;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Parses `argv` for one command; unknown flags are a UsageError naming the valid ones. */
export function parseCommandArgs(
  argv: string[],
  spec: OptionSpec,
  opts: { positionals?: boolean } = {},
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  const normalised = argv.map((a) => {
    if (!a.startsWith('--')) return a;
    const [flag, ...rest] = a.split('=');
    const name = flag.slice(2).replace(/-/g, '_');
    return ['--' + name, ...rest].join('=');
  });
  // A flag given with several values (`--layer_indices 66 67`) collects the following
  // non-flag words, as Python's argparse nargs='+' does.
  const expanded: string[] = [];
  for (let i = 0; i < normalised.length; i++) {
    const a = normalised[i];
    const name = a.startsWith('--') && !a.includes('=') ? a.slice(2) : undefined;
    if (!name || !spec[name]?.multiple) {
      expanded.push(a);
      continue;
    }
    let j = i + 1;
    while (j < normalised.length && !normalised[j].startsWith('--')) expanded.push(a, normalised[j++]);
    if (j === i + 1) expanded.push(a); // no value: let parseArgs report it
    i = j - 1;
  }
  try {
    const parsed = parseArgs({
      args: expanded,
      options: Object.fromEntries(
        Object.entries(spec).map(([k, v]) => [
          k,
          { type: v.type, ...(v.multiple ? { multiple: true } : {}), ...(v.default !== undefined ? { default: v.default as never } : {}) },
        ]),
      ),
      allowPositionals: opts.positionals ?? false,
      strict: true,
    });
    return { values: parsed.values as Record<string, string | boolean | string[] | undefined>, positionals: parsed.positionals };
  } catch (e) {
    throw new UsageError(`${(e as Error).message.split('\n')[0]}\nvalid options:\n${usage(spec)}`);
  }
}

export function usage(spec: OptionSpec): string {
  return Object.entries(spec)
    .map(([k, v]) => `  --${k}${v.type === 'string' ? ' VALUE' : ''}${v.multiple ? ' [VALUE …]' : ''}  ${v.help}`)
    .join('\n');
}

export function intArg(values: Record<string, unknown>, name: string, fallback: number, min = 0): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got '${raw}'`);
  return n;
}

export function numArg(values: Record<string, unknown>, name: string, fallback: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got '${raw}'`);
  return n;
}
