/**
 * A job's parameters as a command line, both ways, derived from the job's schema (./jobs.ts):
 * `parseArgv` is the CLI's argument edge (flags → the same params the editor sends), `toArgv` its
 * inverse, used for the CLI twin every palette job logs and every run file records. Tested to
 * round-trip: parseArgv(toArgv(p)) equals the parsed p for every job.
 *
 * The seed's scripts used Python's argparse, so its habits are honoured: snake_case flags (kebab
 * case accepted), `--flag value` or `--flag=value`, list flags that take every following value
 * (`--layer_indices 64 66 68`), and negative numbers as values (`--scale -0.5`).
 *
 * No imports from vscode, the DOM or Node here: the extension bundles this module.
 */
import { z } from 'zod';
import { flagOfKey, snakeCase, type JobCli } from './jobs';

/** Wrong arguments: the CLI prints the message and exits 2; the runtime answers InvalidParams. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type FieldKind = 'string' | 'number' | 'integer' | 'boolean' | 'enum' | 'string[]' | 'number[]' | 'integer[]';

export interface FieldInfo {
  key: string;
  /** The flag without dashes, e.g. `data_file_path`. */
  flag: string;
  /** Other accepted spellings (without dashes). */
  aliases: string[];
  kind: FieldKind;
  /** Allowed values of an enum. */
  values?: readonly string[];
  help: string;
  /** The value when the flag is not given (undefined: none). */
  defaultValue?: unknown;
  required: boolean;
  positional: boolean;
  /** Receives every word the job does not know (JobCli.rest), in order. */
  rest: boolean;
}

/** What the argv codec needs of a job (./jobs.ts's JobDefinition has it). */
export interface ArgvJob {
  name: string;
  fields: z.ZodObject<z.ZodRawShape>;
  params: z.ZodTypeAny;
  cli: JobCli;
}

function unwrap(schema: z.ZodTypeAny): { base: z.ZodTypeAny; optional: boolean; defaultValue?: unknown; help: string } {
  let s = schema;
  let optional = false;
  let defaultValue: unknown;
  let help = s.description ?? '';
  for (;;) {
    if (s instanceof z.ZodOptional) {
      optional = true;
      s = s.unwrap();
    } else if (s instanceof z.ZodDefault) {
      optional = true;
      defaultValue = s._def.defaultValue();
      s = s._def.innerType;
    } else if (s instanceof z.ZodEffects) {
      s = s.innerType();
    } else break;
    help ||= s.description ?? '';
  }
  return { base: s, optional, defaultValue, help };
}

function kindOf(base: z.ZodTypeAny, key: string): { kind: FieldKind; values?: readonly string[] } {
  if (base instanceof z.ZodString) return { kind: 'string' };
  if (base instanceof z.ZodBoolean) return { kind: 'boolean' };
  if (base instanceof z.ZodNumber) return { kind: base.isInt ? 'integer' : 'number' };
  if (base instanceof z.ZodEnum) return { kind: 'enum', values: base.options as string[] };
  if (base instanceof z.ZodArray) {
    const el = unwrap(base.element).base;
    const k = kindOf(el, key).kind;
    if (k === 'string' || k === 'number' || k === 'integer') return { kind: `${k}[]` };
  }
  throw new Error(`job parameter ${key}: no command-line form for this schema`);
}

const fieldCache = new WeakMap<object, FieldInfo[]>();

/** The job's parameters as flags, in declaration order. */
export function fieldsOf(job: ArgvJob): FieldInfo[] {
  const hit = fieldCache.get(job.fields);
  if (hit) return hit;
  const out = Object.entries(job.fields.shape).map(([key, schema]): FieldInfo => {
    const u = unwrap(schema as z.ZodTypeAny);
    return {
      key,
      flag: job.cli.flags?.[key] ?? snakeCase(key),
      aliases: (job.cli.aliases?.[key] ?? []).map((a) => a.replace(/-/g, '_')),
      ...kindOf(u.base, key),
      help: u.help,
      ...(u.defaultValue !== undefined ? { defaultValue: u.defaultValue } : {}),
      required: !u.optional,
      positional: job.cli.positional === key,
      rest: job.cli.rest === key,
    };
  });
  fieldCache.set(job.fields, out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// argv → params

function convert(f: FieldInfo, raw: string, given: string): string | number | boolean {
  const scalar = f.kind.replace('[]', '');
  if (scalar === 'number' || scalar === 'integer') {
    const n = Number(raw);
    const list = f.kind.endsWith('[]');
    const what = scalar === 'integer' ? (list ? 'integers' : 'an integer') : list ? 'numbers' : 'a number';
    if (raw.trim() === '' || !Number.isFinite(n) || (scalar === 'integer' && !Number.isInteger(n))) throw new UsageError(`${given} takes ${what}, got '${raw}'`);
    return n;
  }
  if (f.kind === 'boolean') {
    if (/^(true|1|yes)$/i.test(raw)) return true;
    if (/^(false|0|no)$/i.test(raw)) return false;
    throw new UsageError(`${given} is a switch: give it alone (or =true / =false), got '${raw}'`);
  }
  if (f.kind === 'enum' && !f.values!.includes(raw)) throw new UsageError(`${given} must be ${orList(f.values!)}, got '${raw}'`);
  return raw;
}

/**
 * Parses a job's command line into its params: unknown, repeated, conflicting and ill-typed
 * flags are UsageErrors that name the flag; the result passed the job's schema (defaults filled).
 */
export function parseArgv(job: ArgvJob, argv: readonly string[]): unknown {
  const fields = fieldsOf(job);
  const byFlag = new Map<string, FieldInfo>();
  for (const f of fields) for (const name of [f.flag, ...f.aliases]) byFlag.set(name, f);
  const raw: Record<string, unknown> = {};
  const givenAs = new Map<string, string>();
  const positional = fields.find((f) => f.positional);
  const rest = fields.find((f) => f.rest);
  // The rest parameter is never a flag of its own: its words are whatever the job does not know.
  if (rest) for (const name of [rest.flag, ...rest.aliases]) byFlag.delete(name);
  const toRest = (token: string) => {
    raw[rest!.key] = [...((raw[rest!.key] as string[] | undefined) ?? []), token];
  };
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--' && rest) {
      // Everything after a bare `--` belongs to the rest, even words that look like our flags.
      for (const t of argv.slice(i + 1)) toRest(t);
      break;
    }
    if (!token.startsWith('--') || token === '--') {
      const positionalFree = positional && (positional.kind.endsWith('[]') || raw[positional.key] === undefined);
      if (rest && token !== '--' && !positionalFree) {
        toRest(token);
        continue;
      }
      if (!positional || token === '--') throw new UsageError(`unexpected argument '${token}'${positional ? '' : `: layerlab ${job.name} takes only --flags`}`);
      if (positional.kind.endsWith('[]')) {
        raw[positional.key] = [...((raw[positional.key] as unknown[] | undefined) ?? []), convert(positional, token, positional.flag)];
        if (!givenAs.has(positional.key)) givenAs.set(positional.key, positional.flag);
        continue;
      }
      if (raw[positional.key] !== undefined) throw new UsageError(`one ${positional.flag} only, got '${raw[positional.key]}' and '${token}'`);
      raw[positional.key] = convert(positional, token, positional.flag);
      givenAs.set(positional.key, positional.flag);
      continue;
    }
    const eq = token.indexOf('=');
    // Messages name a flag as the user spelled it (kebab or snake case).
    const spelled = eq < 0 ? token.slice(2) : token.slice(2, eq);
    const name = spelled.replace(/-/g, '_');
    const inline = eq < 0 ? undefined : token.slice(eq + 1);
    const f = byFlag.get(name);
    if (!f && rest) {
      toRest(token);
      continue;
    }
    if (!f) throw new UsageError(`unknown option --${spelled}${suggest(name, [...byFlag.keys()])}\nvalid options:\n${usage(job)}`);
    const given = `--${spelled}`;
    if (f.kind.endsWith('[]')) {
      const values: string[] = [];
      if (inline !== undefined) values.push(inline);
      else while (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) values.push(argv[++i]!);
      if (values.length === 0) throw new UsageError(`${given} needs at least one value`);
      // Number lists also take commas (`--layer_indices 64,66`); strings never split (a stop string may hold one).
      const items = f.kind === 'string[]' ? values : values.flatMap((v) => v.split(',')).filter((v) => v !== '');
      raw[f.key] = [...((raw[f.key] as unknown[] | undefined) ?? []), ...items.map((v) => convert(f, v, given))];
    } else {
      if (raw[f.key] !== undefined) throw new UsageError(`${given} is given twice${givenAs.get(f.key) !== given ? ` (also as --${givenAs.get(f.key)})` : ''}`);
      let value: string;
      if (f.kind === 'boolean') value = inline ?? 'true';
      else if (inline !== undefined) value = inline;
      else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) value = argv[++i]!;
      else throw new UsageError(`${given} needs a value${f.help ? ` (${f.help})` : ''}`);
      raw[f.key] = convert(f, value, given);
    }
    if (!givenAs.has(f.key)) givenAs.set(f.key, spelled);
  }
  const r = job.params.safeParse(raw);
  if (!r.success) throw describeIssues(job, r.error, givenAs);
  return r.data;
}

/**
 * The first problem zod found, worded for someone who typed flags (or built params in the
 * editor: the flag names are what the logged CLI twin shows).
 */
export function describeIssues(job: ArgvJob, e: z.ZodError, givenAs: Map<string, string> = new Map()): UsageError {
  const fields = fieldsOf(job);
  const messages = e.issues.slice(0, 3).map((issue) => {
    const key = String(issue.path[0] ?? '');
    const f = fields.find((x) => x.key === key);
    const flag = f ? `--${givenAs.get(key) ?? f.flag}` : key ? `'${key}'` : 'the parameters';
    switch (issue.code) {
      case 'invalid_type':
        return issue.received === 'undefined' ? `${flag} is required${f?.help ? ` (${f.help})` : ''}` : `${flag} must be ${describeKind(f)}, got ${issue.received}`;
      case 'too_small':
        if (issue.type === 'array') return `${flag} needs at least ${issue.minimum} value${issue.minimum === 1 ? '' : 's'}`;
        if (issue.type === 'string') return `${flag} must not be empty`;
        return `${flag} must be ${issue.inclusive ? '>=' : '>'} ${issue.minimum}`;
      case 'too_big':
        return `${flag} must be ${issue.inclusive ? '<=' : '<'} ${issue.maximum}`;
      case 'invalid_enum_value':
        return `${flag} must be ${orList(issue.options.map(String))}, got '${issue.received}'`;
      case 'unrecognized_keys':
        return `unknown parameter${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')} for ${job.name}`;
      case 'custom': {
        const conflict = (issue.params as { conflict?: string } | undefined)?.conflict;
        // A conflict names both flags as the user spelled them.
        const text = conflict && givenAs.has(conflict) ? issue.message.replace(flagOfKey(conflict, job.cli), `--${givenAs.get(conflict)}`) : issue.message;
        return `${flag} ${text}`;
      }
      default:
        return `${flag}: ${issue.message}`;
    }
  });
  return new UsageError(messages.join('\n'));
}

function describeKind(f: FieldInfo | undefined): string {
  switch (f?.kind) {
    case 'boolean':
      return 'true or false';
    case 'enum':
      return orList(f.values!);
    case 'integer':
      return 'an integer';
    case 'number':
      return 'a number';
    case undefined:
      return 'valid';
    default:
      return f!.kind.endsWith('[]') ? `a list of ${f!.kind.slice(0, -2)}s` : `a ${f!.kind}`;
  }
}

function orList(values: readonly string[]): string {
  return values.length <= 2 ? values.join(' or ') : `${values.slice(0, -1).join(', ')} or ${values.at(-1)}`;
}

/** " (did you mean --x?)" when a known flag is one or two edits away. */
function suggest(name: string, known: string[]): string {
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best ? ` (did you mean --${best}?)` : '';
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The options part of `layerlab <job> --help`. */
export function usage(job: ArgvJob): string {
  return fieldsOf(job)
    .map((f) => {
      if (f.rest) return `  ${f.key.toUpperCase()} …\n      ${f.help}`;
      const value = f.kind === 'boolean' ? '' : f.kind === 'enum' ? ` ${f.values!.join('|')}` : f.kind.endsWith('[]') ? ' VALUE [VALUE …]' : ' VALUE';
      const dflt = f.defaultValue !== undefined && f.kind !== 'boolean' ? ` (default ${JSON.stringify(f.defaultValue)})` : '';
      const alias = f.aliases.length ? `, ${f.aliases.map((a) => `--${a}`).join(', ')}` : '';
      return `  --${f.flag}${alias}${value}${f.required ? '  (required)' : ''}${f.positional ? '  (or positional)' : ''}\n      ${f.help}${dflt}`;
    })
    .join('\n');
}

// ---------------------------------------------------------------------------------------------
// params → argv

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function formatValue(v: unknown): string {
  return typeof v === 'number' ? String(v) : String(v);
}

/**
 * The command line that gives these params (defaults left out). Values that would read as a
 * flag (`--…`) use the `--flag=value` form; everything else `--flag value`, as people type it.
 */
export function toArgv(job: ArgvJob, params: Record<string, unknown>): string[] {
  const out: string[] = [];
  const fields = fieldsOf(job);
  const known = new Set(fields.map((f) => f.key));
  for (const k of Object.keys(params)) {
    if (!known.has(k) && params[k] !== undefined) throw new UsageError(`unknown parameter '${k}' for ${job.name}`);
  }
  const own = new Set(fields.filter((f) => !f.rest).flatMap((f) => [f.flag, ...f.aliases]));
  let restWords: string[] = [];
  for (const f of fields) {
    const v = params[f.key];
    if (v === undefined || (f.defaultValue !== undefined && sameValue(v, f.defaultValue))) continue;
    const flag = `--${f.flag}`;
    if (f.rest) {
      const words = (v as unknown[]).map(formatValue);
      // A word that would read as one of our flags (or the separator) needs the `--` before the rest.
      const ambiguous = words.some((w) => w === '--' || (w.startsWith('--') && own.has(w.slice(2).split('=')[0]!.replace(/-/g, '_'))));
      restWords = ambiguous ? ['--', ...words] : words;
    } else if (f.positional && Array.isArray(v) && v.length > 0 && v.every((x) => !String(x).startsWith('-'))) {
      out.unshift(...v.map(formatValue));
    } else if (f.kind === 'boolean') {
      out.push(v ? flag : `${flag}=false`);
    } else if (Array.isArray(v)) {
      if (v.every((x) => !String(x).startsWith('--'))) out.push(flag, ...v.map(formatValue));
      else for (const x of v) out.push(`${flag}=${formatValue(x)}`);
    } else {
      const s = formatValue(v);
      if (f.positional && !s.startsWith('-')) out.unshift(s);
      else if (s.startsWith('-') && typeof v !== 'number') out.push(`${flag}=${s}`);
      else out.push(flag, s);
    }
  }
  return [...out, ...restWords];
}

/** A word as a POSIX shell reads it back. */
export function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** `layerlab <job> ARGS…` as one shell line: the CLI twin of a palette run. */
export function cliLine(job: ArgvJob, params: Record<string, unknown>): string {
  return ['layerlab', job.name, ...toArgv(job, params)].map(shellQuote).join(' ');
}

/** A parameter's default as the job's schema defines it (the CLI's and the palette's). */
export function defaultOf(job: ArgvJob, key: string): unknown {
  const f = fieldsOf(job).find((x) => x.key === key);
  if (!f) throw new Error(`${job.name} has no parameter ${key}`);
  return f.defaultValue;
}
