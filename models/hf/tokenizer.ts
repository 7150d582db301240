/**
 * Hugging Face tokenizers (`tokenizer.json` + `tokenizer_config.json`) and chat templates.
 *
 * Tokenization is delegated to `@huggingface/tokenizers` (a pure-JS port of the Rust library:
 * BPE, Unigram, WordPiece, byte-level and Metaspace pipelines), chat templates to
 * `@huggingface/jinja`, the renderer transformers.js uses. This module adapts both to the
 * runtime's `Tokenizer` surface and turns their failures into CheckpointErrors naming the file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer as HfTokenizerImpl } from '@huggingface/tokenizers';
import { CheckpointError, type Tokenizer } from '../checkpoint';

export interface ChatMessage {
  role: string;
  content: string;
}

export interface HfTokenizer extends Tokenizer {
  /** Absolute path of the folder it was read from. */
  readonly source: string;
  /** Jinja source of the chat template, when the folder has one. */
  readonly chatTemplate?: string;
  /**
   * The conversation as the model was trained to see it. The result already contains any BOS the
   * template writes, so encode it with `addBos: false`.
   */
  applyChatTemplate(messages: ChatMessage[], opts: { addGenerationPrompt: boolean }): string;
  /** Throws a CheckpointError when the tokenizer can emit ids the model has no embedding for. */
  checkVocab(modelVocabSize: number): void;
}

export interface LoadHfTokenizerOptions {
  /** The model's vocab_size; when given, the vocabulary check runs at load time. */
  modelVocabSize?: number;
}

/** tokenizer_config.json writes special tokens as strings or as serialized AddedToken objects. */
function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as { content?: unknown }).content === 'string') {
    return (v as { content: string }).content;
  }
  return undefined;
}

function readJsonObject(file: string, required: boolean, whyNeeded: string): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      if (!required) return undefined;
      throw new CheckpointError(file, `missing: ${whyNeeded}`);
    }
    throw new CheckpointError(file, `cannot read: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(file, `is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new CheckpointError(file, 'must hold a JSON object');
  return parsed as Record<string, unknown>;
}

function idsOf(v: unknown): number[] {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0);
  return [];
}

/**
 * Finds the chat template the way transformers does: a separate `chat_template.jinja` (written by
 * transformers ≥ 4.43) wins over `chat_template` in tokenizer_config.json, which is either a string
 * or a list of named templates of which "default" is the one used without a name.
 */
function findChatTemplate(dir: string, config: Record<string, unknown>, configPath: string): { source: string; file: string } | undefined {
  const jinjaPath = path.join(dir, 'chat_template.jinja');
  if (fs.existsSync(jinjaPath)) return { source: fs.readFileSync(jinjaPath, 'utf8'), file: jinjaPath };
  const t = config.chat_template;
  if (t === undefined || t === null) return undefined;
  if (typeof t === 'string') return { source: t, file: configPath };
  if (Array.isArray(t)) {
    const named = t.filter((x): x is { name: string; template: string } => typeof x?.name === 'string' && typeof x?.template === 'string');
    const chosen = named.find((x) => x.name === 'default') ?? (named.length === 1 ? named[0] : undefined);
    if (!chosen) {
      throw new CheckpointError(configPath, `chat_template lists ${named.map((x) => x.name).join(', ')} but none is named "default"`);
    }
    return { source: chosen.template, file: configPath };
  }
  throw new CheckpointError(configPath, 'chat_template must be a string or a list of {name, template}');
}

/**
 * Loads `tokenizer.json` (required) and `tokenizer_config.json` (optional, but it carries the
 * special-token names and the chat template) from a Hugging Face folder.
 *
 * Semantics, chosen to match the llama2.c tokenizer so the runtime treats both alike:
 * - `encode` never lets the tokenizer's post-processor add special tokens; `addBos` prepends
 *   `bos_token` from tokenizer_config.json when there is one (Qwen2 has none, so nothing).
 * - `decode` drops special tokens (BOS, EOS, chat markers) and applies
 *   `clean_up_tokenization_spaces` only when tokenizer_config.json asks for it.
 * - `eosIds` unions `eos_token` with `eos_token_id` from generation_config.json and config.json,
 *   since chat models often stop on several tokens (Llama 3's <|eot_id|>).
 */
export function loadHfTokenizer(dir: string, opts: LoadHfTokenizerOptions = {}): HfTokenizer {
  let source = path.resolve(dir);
  if (!fs.existsSync(source)) throw new CheckpointError(source, 'tokenizer folder not found');
  if (!fs.statSync(source).isDirectory()) {
    // The tokenizer.json itself: its folder is what is meant (tokenizer_config.json lives there too).
    if (path.basename(source) !== 'tokenizer.json') {
      throw new CheckpointError(source, 'is a file, but a Hugging Face model needs a tokenizer folder (with tokenizer.json); a llama2.c tokenizer .bin belongs to a llama2.c model');
    }
    source = path.dirname(source);
  }
  const tokenizerPath = path.join(source, 'tokenizer.json');
  const configPath = path.join(source, 'tokenizer_config.json');
  const tokenizerJson = readJsonObject(tokenizerPath, true, 'a Hugging Face tokenizer needs tokenizer.json (the "fast" tokenizer format)')!;
  const config = readJsonObject(configPath, false, '') ?? {};

  let impl: HfTokenizerImpl;
  try {
    // The library iterates added_tokens and requires these keys even when null; real files have them.
    impl = new HfTokenizerImpl({ added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...tokenizerJson }, config);
  } catch (e) {
    throw new CheckpointError(tokenizerPath, `is not a tokenizer LayerLab can read (${(e as Error).message}); is it a complete tokenizer.json from the same model?`);
  }

  let vocabSize = 0;
  for (const id of impl.get_vocab(true).values()) vocabSize = Math.max(vocabSize, id + 1);

  const idOfToken = (field: string): number | undefined => {
    const content = tokenContent(config[field]);
    if (content === undefined) return undefined;
    const id = impl.token_to_id(content);
    if (id === undefined) throw new CheckpointError(configPath, `${field} '${content}' is not in the vocabulary of tokenizer.json`);
    return id;
  };
  const bosId = idOfToken('bos_token');
  const eosIds: number[] = [];
  const addEos = (id: number) => {
    if (id < vocabSize && !eosIds.includes(id)) eosIds.push(id);
  };
  const eosFromConfig = idOfToken('eos_token');
  if (eosFromConfig !== undefined) addEos(eosFromConfig);
  for (const f of ['generation_config.json', 'config.json']) {
    const j = readJsonObject(path.join(source, f), false, '');
    if (j) idsOf(j.eos_token_id).forEach(addEos);
  }

  const specialStrings: Record<string, string> = {};
  for (const field of ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token']) {
    const c = tokenContent(config[field]);
    if (c !== undefined) specialStrings[field] = c;
  }
  const chat = findChatTemplate(source, config, configPath);
  let compiled: Template | undefined;
  const cleanUp = config.clean_up_tokenization_spaces === true;

  const checkId = (id: number) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new RangeError(`token id ${id} is outside the tokenizer's vocabulary [0, ${vocabSize}) (${tokenizerPath})`);
    }
  };

  const tok: HfTokenizer = {
    source,
    vocabSize,
    bosId,
    eosIds,
    chatTemplate: chat?.source,
    encode(text: string, o?: { addBos?: boolean }): number[] {
      let ids: number[];
      try {
        ids = impl.encode(text, { add_special_tokens: false }).ids;
      } catch (e) {
        throw new CheckpointError(tokenizerPath, `cannot encode the text (${(e as Error).message}); the tokenizer may be incomplete or belong to another model`);
      }
      // A tokenizer for another model can yield no id (undefined) for pieces it lacks; the
      // model would then fail far away with a message about token ids.
      const bad = ids.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= vocabSize);
      if (bad >= 0) {
        throw new CheckpointError(tokenizerPath, `produced token id ${String(ids[bad])} (not in its own vocabulary of ${vocabSize}) for this text; the tokenizer is incomplete or belongs to another model`);
      }
      return o?.addBos && bosId !== undefined ? [bosId, ...ids] : ids;
    },
    decode(ids: number[]): string {
      // The library throws on an empty list; an empty generation is simply "".
      if (ids.length === 0) return '';
      ids.forEach(checkId);
      return impl.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: cleanUp });
    },
    /**
     * `decode([id])`. A byte-level token holding part of a multi-byte character yields U+FFFD, and
     * Metaspace decoders strip the leading space of a lone token; streaming code that needs exact
     * text should decode the whole sequence and emit the difference.
     */
    tokenText(id: number): string {
      return tok.decode([id]);
    },
    applyChatTemplate(messages: ChatMessage[], o: { addGenerationPrompt: boolean }): string {
      if (!chat) {
        throw new CheckpointError(
          configPath,
          'has no chat_template, so this model has no chat format; use the bare prompt template (plain text, no roles) instead',
        );
      }
      if (!compiled) {
        try {
          compiled = new Template(chat.source);
        } catch (e) {
          throw new CheckpointError(chat.file, `chat template does not parse: ${(e as Error).message}`);
        }
      }
      try {
        return compiled.render({
          ...specialStrings,
          messages: messages.map((m) => ({ role: m.role, content: m.content })),
          add_generation_prompt: o.addGenerationPrompt,
        });
      } catch (e) {
        throw new CheckpointError(chat.file, `chat template failed to render: ${(e as Error).message}`);
      }
    },
    checkVocab(modelVocabSize: number): void {
      if (vocabSize > modelVocabSize) {
        throw new CheckpointError(
          tokenizerPath,
          `the tokenizer has ${vocabSize} tokens but the model's vocab_size is ${modelVocabSize}; ids ≥ ${modelVocabSize} have no embedding, so this tokenizer does not belong to this model`,
        );
      }
    },
  };
  if (opts.modelVocabSize !== undefined) tok.checkVocab(opts.modelVocabSize);
  return tok;
}
