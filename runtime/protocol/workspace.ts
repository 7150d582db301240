/**
 * Where LayerLab keeps things in a workspace, shared by the extension's settings defaults, the
 * runtime's jobs and the CLI so that a palette run and its CLI twin read and write the same
 * places. Paths are relative to the workspace folder (the runtime's cwd).
 */
export const WORKSPACE_DEFAULTS = Object.freeze({
  modelsPath: '.layerlab/models',
  datasetsPath: '.layerlab/datasets',
  outputPath: '.layerlab/output',
});

/**
 * Sub-folders of the output folder, one per kind of result. compute-directions writes beside
 * the cache it reads (`<cache>.directions.safetensors`, `<cache>.directions.json`).
 */
export const OUTPUT_SUBFOLDERS = Object.freeze({
  cache: 'hidden_states',
  runs: 'runs',
  /** Reasoning chains and what is computed from them (annotations, vectors, effects, steering). */
  thinking: 'thinking',
});

/** Folder name of the built-in demo model inside the models folder. */
export const DEMO_MODEL_NAME = 'demo';
