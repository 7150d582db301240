/**
 * `layerlab sweep`: layers × scales × alphas × directions files in one process, with the
 * no-intervention baseline and random-direction controls, one run file. Parsing here; the work
 * is runtime/evaluate's runSweep.
 */
import { runSweep, type SweepOptions } from '../evaluate';
import { parseCommandArgs, type OptionSpec } from './args';
import type { Command } from './command';
import { attachNegativeValues, COMMON_EVAL_OPTIONS, commonOptionsFrom, numList, withModel } from './evaluate';
import { MODEL_OPTIONS } from './modelArgs';
import { progressPrinter } from './progress';

const OPTIONS: OptionSpec = {
  ...MODEL_OPTIONS,
  ...COMMON_EVAL_OPTIONS,
  layer_indices: { type: 'string', multiple: true, help: 'blocks swept, one at a time (default: every block)' },
  with_pre_hook: { type: 'boolean', help: 'sweep edits of block inputs (blocks.L.hook_resid_pre)' },
  with_post_hook: { type: 'boolean', help: 'sweep edits of block outputs (the default; give both flags for both)' },
  scales: { type: 'string', multiple: true, help: 'scales swept (default 0.1)' },
  scale: { type: 'string', help: 'one scale (added to --scales)' },
  alphas: { type: 'string', multiple: true, help: 'additive coefficients swept (default 0)' },
  alpha: { type: 'string', help: 'one additive coefficient (added to --alphas)' },
  direction_layer: { type: 'string', help: "paper-code mode: this block's direction at every swept block" },
  direction_files: { type: 'string', multiple: true, help: 'several directions files, each swept (instead of --direction_file / the cache)' },
  random_controls: { type: 'string', help: 'random unit directions per grid point (default 1)' },
  random_seed: { type: 'string', help: 'seed of the random directions (default 1234)' },
};

export function sweepOptionsFrom(argv: string[]): { values: Record<string, unknown>; options: SweepOptions } {
  const { values } = parseCommandArgs(attachNegativeValues(argv, OPTIONS), OPTIONS);
  const options: SweepOptions = {
    ...commonOptionsFrom(values, argv),
    withPreHook: values.with_pre_hook === true,
    withPostHook: values.with_post_hook === true,
  };
  const layers = numList(values, 'layer_indices', true);
  if (layers) options.layerIndices = layers;
  const scales = [...(numList(values, 'scales') ?? []), ...(numList({ scale: values.scale === undefined ? undefined : [values.scale] }, 'scale') ?? [])];
  if (scales.length) options.scales = scales;
  const alphas = [...(numList(values, 'alphas') ?? []), ...(numList({ alpha: values.alpha === undefined ? undefined : [values.alpha] }, 'alpha') ?? [])];
  if (alphas.length) options.alphas = alphas;
  const one = (name: string): number | undefined => numList({ [name]: values[name] === undefined ? undefined : [values[name]] }, name, true)?.[0];
  const dl = one('direction_layer');
  if (dl !== undefined) options.directionLayer = dl;
  if (values.direction_files) options.directionFiles = values.direction_files as string[];
  const rc = one('random_controls');
  if (rc !== undefined) options.randomControls = rc;
  const rs = one('random_seed');
  if (rs !== undefined) options.randomSeed = rs;
  return { values, options };
}

export const sweepCommand: Command = {
  name: 'sweep',
  summary: 'layers × scales (× alphas × directions) with the baseline and random-direction controls, in one process and one run file',
  options: OPTIONS,
  async run(argv, io, signal) {
    const { values, options } = sweepOptionsFrom(argv);
    const outcome = await withModel(values, io, (opened) =>
      runSweep(options, {
        model: opened.model,
        tokenizer: opened.tokenizer,
        signal,
        onProgress: progressPrinter('sweep', io.log),
        log: io.log,
        out: io.out,
      }),
    );
    return { files: [outcome.file] };
  },
};
