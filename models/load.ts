/**
 * Finds and reads a model from a user-given path: a Hugging Face folder or a llama2.c
 * checkpoint file, with its tokenizer. The one place that knows which reader handles what.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError, type LlamaConfig, type LlamaTensorReader, type Tokenizer } from './checkpoint';
import { hfLlamaTensorReader, probeHfCheckpoint } from './hf/checkpoint';
import { loadHfTokenizer } from './hf/tokenizer';
import { llama2cTensorReader, probeLlama2cCheckpoint } from './llama2c/checkpoint';
import { readLlama2cTokenizer } from './llama2c/tokenizer';
import { huginnRecipe, llamaRecipe, type GraphRecipe } from './graph/build';
import { huginnFolderReader, isHuginnFolder, probeHuginnCheckpoint, type HuginnConfig, type HuginnTensorReader } from './huginn/checkpoint';
import { loadHuginnTokenizer } from './huginn/tokenizer';
import type { HashProgress } from './fingerprint';

/** A tokenizer that may also render chat templates (Hugging Face folders that ship one). */
export interface ModelTokenizer extends Tokenizer {
  applyChatTemplate?(messages: { role: string; content: string }[], opts: { addGenerationPrompt: boolean }): string;
  /** End-of-turn strings the model emits (used as stop strings), when the tokenizer knows them. */
  stopStrings?: string[];
  /** Where it was read from. */
  source: string;
}

/** The checkpoint's tensors, one at a time, by architecture (what the reference forward reads). */
export type CheckpointTensors = { family: 'llama'; config: LlamaConfig; read: LlamaTensorReader } | { family: 'huginn'; config: HuginnConfig; read: HuginnTensorReader };

export interface LoadedCheckpoint {
  format: 'huggingface' | 'llama2c';
  path: string;
  recipe: GraphRecipe;
  tokenizer: ModelTokenizer;
  config: LlamaConfig | HuginnConfig;
  contentHash: string;
  /** Opens a tensor-at-a-time reader (headers are checked now; weights are read when asked). */
  tensors(): CheckpointTensors;
}

/**
 * Architecture options chosen when opening a model. Only recurrent-depth models (huginn_raven)
 * take any; giving one for another model is an error rather than silently ignored.
 */
export interface ModelOptions {
  /** Recurrences of the core block (default: the config's mean_recurrence, 32 for huginn-0125). */
  numSteps?: number;
  /** Initial latent state: 'zeros' (default, deterministic) or 'random' (the original's, seeded). */
  stateInit?: string;
  /** Seed of the random initial state. */
  stateSeed?: number;
}

/** `--model PATH`, or the seed's `--models_path DIR --model_name NAME` (= DIR/NAME). */
export function resolveModelPath(opts: { model?: string; modelsPath?: string; modelName?: string }): string {
  if (opts.model) return path.resolve(opts.model);
  if (opts.modelsPath && opts.modelName) return path.resolve(opts.modelsPath, opts.modelName);
  if (opts.modelName) return path.resolve(opts.modelName);
  throw new Error('no model given: pass --model PATH (a Hugging Face folder or a llama2.c .bin), or --models_path DIR --model_name NAME');
}

/** `onHashProgress` reports the content hash of a checkpoint not hashed before (bytes done, of all). */
export function loadCheckpoint(modelPath: string, tokenizerPath?: string, options: ModelOptions = {}, onHashProgress?: HashProgress): LoadedCheckpoint {
  if (!fs.existsSync(modelPath)) {
    throw new CheckpointError(modelPath, 'no such file or folder (a model is a Hugging Face folder with config.json or a llama2.c .bin file)');
  }
  if (fs.statSync(modelPath).isDirectory() && isHuginnFolder(modelPath)) {
    const probe = probeHuginnCheckpoint(modelPath, onHashProgress);
    const tok = loadHuginnTokenizer(tokenizerPath ?? modelPath);
    checkVocab(tok, probe.config.vocabSize, tokenizerPath ?? modelPath);
    let recipe: GraphRecipe;
    try {
      recipe = huginnRecipe(probe, () => huginnFolderReader(modelPath), options);
    } catch (e) {
      if (e instanceof RangeError) throw new CheckpointError(modelPath, e.message);
      throw e;
    }
    return {
      format: 'huggingface',
      path: modelPath,
      recipe,
      tokenizer: Object.assign(tok, { source: tokenizerPath ?? modelPath }),
      config: probe.config,
      contentHash: probe.contentHash,
      tensors: () => ({ family: 'huginn', config: probe.config, read: huginnFolderReader(modelPath) }),
    };
  }
  const given = Object.entries({ '--num_steps': options.numSteps, '--state_init': options.stateInit, '--state_seed': options.stateSeed })
    .filter(([, v]) => v !== undefined)
    .map(([k]) => k);
  if (given.length) {
    throw new CheckpointError(modelPath, `${given.join(', ')} ${given.length > 1 ? 'apply' : 'applies'} only to recurrent-depth models (model_type huginn_raven); this model has a fixed depth`);
  }
  if (fs.statSync(modelPath).isDirectory()) {
    const probe = probeHfCheckpoint(modelPath, onHashProgress);
    const tok = loadHfTokenizer(tokenizerPath ?? modelPath);
    checkVocab(tok, probe.config.vocabSize, tokenizerPath ?? modelPath);
    return {
      format: 'huggingface',
      path: modelPath,
      recipe: llamaRecipe(probe, () => hfLlamaTensorReader(modelPath)),
      tokenizer: Object.assign(tok, { source: tokenizerPath ?? modelPath }),
      config: probe.config,
      contentHash: probe.contentHash,
      tensors: () => ({ family: 'llama', config: probe.config, read: hfLlamaTensorReader(modelPath) }),
    };
  }
  const probe = probeLlama2cCheckpoint(modelPath, onHashProgress);
  const tokFile = tokenizerPath ?? findLlama2cTokenizer(modelPath);
  const tok = readLlama2cTokenizer(tokFile, probe.config.vocabSize);
  return {
    format: 'llama2c',
    path: modelPath,
    recipe: llamaRecipe(probe, () => llama2cTensorReader(modelPath)),
    tokenizer: Object.assign(tok, { source: tokFile }),
    config: probe.config,
    contentHash: probe.contentHash,
    tensors: () => ({ family: 'llama', config: probe.config, read: llama2cTensorReader(modelPath) }),
  };
}

function checkVocab(tok: Tokenizer, modelVocab: number, where: string): void {
  if (tok.vocabSize > modelVocab) {
    throw new CheckpointError(where, `tokenizer mismatch: the tokenizer has ${tok.vocabSize} tokens but the model's vocab_size is ${modelVocab}`);
  }
}

/** llama2.c keeps the tokenizer beside the checkpoint: `tokenizer.bin`, or a single `tok*.bin`. */
function findLlama2cTokenizer(modelFile: string): string {
  const dir = path.dirname(modelFile);
  const standard = path.join(dir, 'tokenizer.bin');
  if (fs.existsSync(standard)) return standard;
  const candidates = fs.readdirSync(dir).filter((f) => /^tok.*\.bin$/.test(f));
  if (candidates.length === 1) return path.join(dir, candidates[0]);
  throw new CheckpointError(
    modelFile,
    candidates.length === 0
      ? 'no tokenizer found beside the checkpoint (tokenizer.bin or tok*.bin): pass --tokenizer PATH'
      : `several tokenizers beside the checkpoint (${candidates.join(', ')}): pass --tokenizer PATH`,
  );
}
