/** Options every model-using command shares, and how they become an opened model. */
import { resolveModelPath } from '../../models/load';
import { openModel, type OpenedModel } from '../openModel';
import { intArg, UsageError, type OptionSpec } from './args';

export const MODEL_OPTIONS: OptionSpec = {
  model: { type: 'string', help: 'a Hugging Face folder or a llama2.c .bin checkpoint' },
  models_path: { type: 'string', help: 'folder of models (the seed\'s flag; with --model_name)' },
  model_name: { type: 'string', help: 'model folder name under --models_path' },
  tokenizer: { type: 'string', help: 'tokenizer file or folder (default: found beside the model)' },
  provider: { type: 'string', default: 'auto', help: 'execution provider: auto (CUDA if available, else CPU), cuda or cpu' },
  threads: { type: 'string', help: 'CPU threads for ONNX Runtime (default: all cores)' },
};

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
    log,
  });
}
