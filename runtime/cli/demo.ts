import { openModel } from '../openModel';
import { demoPaths, runDemoPipeline, writeDemoInputs } from '../demo';
import { WORKSPACE_DEFAULTS } from '../protocol/workspace';
import { intArg, parseCommandArgs, type OptionSpec } from './args';
import type { Command } from './command';
import { MODEL_OPTIONS } from './modelArgs';

export const DEMO_OPTIONS: OptionSpec = {
  models_path: { type: 'string', default: WORKSPACE_DEFAULTS.modelsPath, help: 'folder the demo model is written into (as demo/)' },
  datasets_path: { type: 'string', default: WORKSPACE_DEFAULTS.datasetsPath, help: 'folder the demo dataset is written into' },
  output_path: { type: 'string', default: WORKSPACE_DEFAULTS.outputPath, help: 'output folder (hidden_states/ and runs/ inside)' },
  provider: MODEL_OPTIONS.provider,
  threads: MODEL_OPTIONS.threads,
};

export const demoCommand: Command = {
  name: 'demo',
  summary: 'the whole pipeline on the built-in demo model and data: cache → directions → sweep (random weights: numbers are not findings)',
  options: DEMO_OPTIONS,
  async run(argv, io, signal) {
    const { values } = parseCommandArgs(argv, DEMO_OPTIONS);
    const p = demoPaths({
      modelsPath: values.models_path as string,
      datasetsPath: values.datasets_path as string,
      outputPath: values.output_path as string,
    });
    writeDemoInputs(p);
    io.log(`demo model (random weights): ${p.modelDir}\ndemo dataset: ${p.dataFile}`);
    const opened = await openModel(p.modelDir, {
      provider: values.provider as 'auto' | 'cuda' | 'cpu',
      threads: intArg(values, 'threads', 0),
      log: io.log,
    });
    try {
      const r = await runDemoPipeline(opened, p, {
        signal,
        log: io.log,
        step: (i, n, m) => io.log(`demo: step ${i + 1}/${n + 1}: ${m}`),
        out: io.out,
      });
      io.out(
        [
          `hidden states: ${r.cacheFile}`,
          `directions:    ${r.directionsFile}`,
          `statistics:    ${r.statsFile}`,
          `run:           ${r.runFile}`,
          'Open the run in VS Code with "LayerLab: Open Run Chart".',
        ].join('\n'),
      );
    } finally {
      await opened.model.release();
    }
  },
};
