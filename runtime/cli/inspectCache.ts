import { inspectCaches } from '../cache/inspect';
import { parseCommandArgs, UsageError, type OptionSpec } from './args';
import type { Command } from './command';

const OPTIONS: OptionSpec = {
  json: { type: 'boolean', default: false, help: 'print as JSON' },
};

export const inspectCacheCommand: Command = {
  name: 'inspect-cache',
  summary: 'datasets, hook points, shapes, dtypes and provenance of hidden-state caches',
  options: OPTIONS,
  positionals: '<cache file or folder>',
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs(argv, OPTIONS, { positionals: true });
    if (positionals.length !== 1) throw new UsageError('give one cache file or folder');
    const entries = inspectCaches(positionals[0]);
    if (values.json) {
      io.out(JSON.stringify(entries, null, 2));
      return;
    }
    if (entries.length === 0) {
      io.out(`no LayerLab caches under ${positionals[0]}`);
      return;
    }
    const lines: string[] = [];
    for (const e of entries) {
      const mb = e.hooks.reduce((a, h) => a + h.bytes, 0) / 1e6;
      lines.push(`${e.dataName}  ${e.complete ? 'complete' : `PARTIAL ${e.rowsDone}/${e.rows} rows`}  ${e.file}`);
      lines.push(`  ${e.hooks.length} hook points, positions ${e.positions}, ${e.dtype}, d_model ${e.dModel}, ${mb.toFixed(2)} MB`);
      for (const k of ['model_path', 'model_hash', 'model_options', 'data_file', 'data_hash', 'data_kind', 'label_rule', 'n_records', 'sample', 'prompt_template', 'layerlab_version']) {
        if (e.provenance[k] !== undefined) lines.push(`  ${k.padEnd(16)} ${e.provenance[k]}`);
      }
      const shown = e.hooks.length > 8 ? [...e.hooks.slice(0, 4), undefined, ...e.hooks.slice(-2)] : e.hooks;
      for (const h of shown) lines.push(h ? `    ${h.name.padEnd(32)} [${h.shape.join(', ')}]` : `    … ${e.hooks.length - 6} more`);
    }
    io.out(lines.join('\n'));
  },
};
