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
  const foreign = describeNonLlama2cFile(modelPath);
  if (foreign) throw new CheckpointError(modelPath, foreign);
  const probe = probeLlama2cCheckpoint(modelPath, onHashProgress);
  const tokFile = tokenizerPath ?? findLlama2cTokenizer(modelPath);
  if (tokenizerPath !== undefined && fs.existsSync(tokenizerPath) && fs.statSync(tokenizerPath).isDirectory()) {
    throw new CheckpointError(
      path.resolve(tokenizerPath),
      'is a folder, but a llama2.c model needs a llama2.c tokenizer file (tokenizer.bin or tok*.bin); a Hugging Face tokenizer folder belongs to a Hugging Face model',
    );
  }
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

/**
 * What a file given as a llama2.c checkpoint really is, when it is recognisably something else
 * (read as a llama2.c header, its first bytes give meaningless sizes); undefined when it may be one.
 */
function describeNonLlama2cFile(file: string): string | undefined {
  let head: Buffer;
  let size: number;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      size = fs.fstatSync(fd).size;
      head = Buffer.alloc(Math.min(16, size));
      fs.readSync(fd, head, 0, head.length, 0);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined; // the llama2.c reader reports unreadable files itself
  }
  const dir = path.dirname(path.resolve(file));
  const inHfFolder = fs.existsSync(path.join(dir, 'config.json'));
  const folderHint = inHfFolder
    ? `pass the folder that holds it and config.json: --model ${dir}`
    : 'a Hugging Face model is a folder with config.json, tokenizer.json and the weights: pass that folder';
  // safetensors: a little-endian u64 header length, then a JSON object.
  if (head.length >= 9 && head.readBigUInt64LE(0) < BigInt(size) && head[8] === 0x7b) {
    return `is a safetensors weights file, not a llama2.c checkpoint; ${folderHint}`;
  }
  const text = head.toString('latin1');
  if (text.startsWith('GGUF')) return 'is a GGUF file (llama.cpp), which LayerLab does not read; use the Hugging Face folder (safetensors) of the model';
  if (text.startsWith('PK\x03\x04')) return 'is a zip archive (a PyTorch .bin/.pt checkpoint?), which LayerLab does not read; convert it to safetensors in a Hugging Face folder';
  // Text, not a header that happens to start with '{' (dim 123): every byte printable.
  const printable = [...head].every((b) => b === 9 || b === 10 || b === 13 || (b >= 0x20 && b < 0x7f));
  if (printable && /^\s*[{[]/.test(text)) {
    return `is a JSON file, not a llama2.c checkpoint; ${path.basename(file) === 'config.json' || inHfFolder ? folderHint : 'pass a llama2.c .bin file or a Hugging Face folder'}`;
  }
  if (/\.onnx$/i.test(file)) return 'is an ONNX file; LayerLab builds its own instrumented graph from a checkpoint: pass the Hugging Face folder or llama2.c .bin it came from';
  return undefined;
}

function checkVocab(tok: Tokenizer, modelVocab: number, where: string): void {
  if (tok.vocabSize > modelVocab) {
    throw new CheckpointError(where, `tokenizer mismatch: the tokenizer has ${tok.vocabSize} tokens but the model's vocab_size is ${modelVocab}`);
  }
}

/** llama2.c keeps the tokenizer beside the checkpoint: `tokenizer.bin`, or a single `tok*.bin`. */
export function findLlama2cTokenizer(modelFile: string): string {
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
