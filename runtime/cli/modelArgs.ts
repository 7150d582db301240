/** Options every model-using command shares, and how they become an opened model. */
import { resolveModelPath, type ModelOptions } from '../../models/load';
import { openModel, type OpenedModel } from '../openModel';
import { intArg, UsageError, type OptionSpec } from './args';

export const MODEL_OPTIONS: OptionSpec = {
  model: { type: 'string', help: 'a Hugging Face folder or a llama2.c .bin checkpoint' },
  models_path: { type: 'string', help: 'folder of models (the seed\'s flag; with --model_name)' },
  model_name: { type: 'string', help: 'model folder name under --models_path' },
  tokenizer: { type: 'string', help: 'tokenizer file or folder (default: found beside the model)' },
  provider: { type: 'string', default: 'auto', help: 'execution provider: auto (CUDA if available, else CPU), cuda or cpu' },
  threads: { type: 'string', help: 'CPU threads for ONNX Runtime (default: all cores)' },
  // Recurrent-depth models (huginn_raven) only; no defaults here, so that giving one for another
  // model can be refused.
  num_steps: { type: 'string', help: "recurrent-depth models (huginn): recurrences of the core block, so blocks = prelude + core×N + coda (default: the config's mean_recurrence, 32 for huginn-0125)" },
  state_init: { type: 'string', help: "recurrent-depth models: initial latent state, zeros (default, deterministic) or random (the original's truncated normal, drawn per position from --state_seed)" },
  state_seed: { type: 'string', help: 'recurrent-depth models: seed of --state_init random (default 0)' },
};

/** The architecture options among the flags (only those given). */
export function modelOptionsFrom(values: Record<string, unknown>): ModelOptions {
  const o: ModelOptions = {};
  if (values.num_steps !== undefined) o.numSteps = intArg(values, 'num_steps', 0, 0);
  if (values.state_init !== undefined) {
    const v = values.state_init as string;
    if (v !== 'zeros' && v !== 'random') throw new UsageError(`--state_init must be zeros or random, got '${v}'`);
    o.stateInit = v;
  }
  if (values.state_seed !== undefined) o.stateSeed = intArg(values, 'state_seed', 0, 0);
  return o;
}

export function modelPathFrom(values: Record<string, unknown>): string {
  return resolveModelPath({
    model: values.model as string | undefined,
    modelsPath: values.models_path as string | undefined,
    modelName: values.model_name as string | undefined,
  });
}

export async function openModelFrom(values: Record<string, unknown>, log: (m: string) => void): Promise<OpenedModel> {
  const provider = values.provider as string;
  if (!['auto', 'cuda', 'cpu'].includes(provider)) throw new UsageError(`--provider must be auto, cuda or cpu, got '${provider}'`);
  return openModel(modelPathFrom(values), {
    tokenizer: values.tokenizer as string | undefined,
    provider: provider as 'auto' | 'cuda' | 'cpu',
    threads: intArg(values, 'threads', 0),
    modelOptions: modelOptionsFrom(values),
    log,
  });
}
