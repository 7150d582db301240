// Prompt templates as named, recorded choices. The hidden state of the last prompt token depends
// on every character of the prompt, so a cache is only meaningful together with the exact
// template that produced it: describeTemplate() gives the JSON that caches and runs store.

import type { QARecord } from './records';
import { letterOf } from './records';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** The tokenizer's chat template (models/ supplies it; datasets/ may not import models/). */
export type ApplyChatTemplate = (messages: ChatMessage[], opts: { addGenerationPrompt: boolean }) => string;

export interface PromptContext {
  /** Null or absent when the tokenizer has no chat template. */
  applyChatTemplate?: ApplyChatTemplate | null;
  /** Named in error messages. */
  modelName?: string;
}

export type PromptTemplate =
  /** Command 1 of the seed: chat template, system prompt, question with lettered options. */
  | { kind: 'seed-chat'; system?: string }
  /** The paper's own code: `Q: {question}\nA: `, no template, no options. */
  | { kind: 'bare' }
  /** A user's template with {question}, {options}, {answer}; optionally wrapped in the chat template. */
  | { kind: 'user'; template: string; name?: string; chat?: boolean; system?: string };

export const SEED_SYSTEM_PROMPT = 'You are a helpful assistant.';
export const BARE_TEXT = 'Q: {question}\nA: ';
/** How one option is written, everywhere (chat prompt, few-shot, {options}). */
export const OPTION_LINE = '({letter}): {option}';
export const OPTIONS_HEADER = 'Options are:';
export const TEMPLATE_NAMES = ['seed-chat', 'bare', 'text'] as const;
/** The prompt is the record's text as it is (plain-text datasets, traced and steered prompts). */
export const TEXT_TEMPLATE: PromptTemplate = Object.freeze({ kind: 'user', template: '{question}', name: 'text' });

export class PromptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PromptError';
  }
}

/** "(A): first\n(B): second" — one line per option, no trailing newline. */
export function formatOptions(options: readonly string[]): string {
  return options.map((o, i) => `(${letterOf(i)}): ${o}`).join('\n');
}

/**
 * "Options are:\n(A): first\n(B): second", or '' for an open question. This is SEED.md's spelling
 * of command 1's user message (`Q: {question}\nOptions are:\n(A): {opt}\n(B): {opt}\n…\nA: `): one
 * newline after the last option, then "A: ". (The seed's Python `form_options` ended every option
 * with "\n" and the caller added "\nA: ", leaving a blank line before "A: "; LayerLab follows
 * SEED.md, which is the specification.)
 */
export function optionsBlock(options: readonly string[]): string {
  return options.length ? `${OPTIONS_HEADER}\n${formatOptions(options)}` : '';
}

/** The user message of the seed-chat prompt; open questions (no options) omit the options block. */
export function seedUserMessage(record: Pick<QARecord, 'question' | 'options'>): string {
  return record.options.length ? `Q: ${record.question}\n${optionsBlock(record.options)}\nA: ` : `Q: ${record.question}\nA: `;
}

const PLACEHOLDER = /\{\{|\}\}|\{([^{}]*)\}/g;
const USER_FIELDS = ['question', 'options', 'answer'] as const;

/** Throws on placeholders other than {question}, {options}, {answer} ({{ and }} are literal braces). */
export function validateUserTemplate(template: string): void {
  for (const m of template.matchAll(PLACEHOLDER)) {
    if (m[1] !== undefined && !(USER_FIELDS as readonly string[]).includes(m[1])) {
      throw new PromptError(`unknown placeholder {${m[1]}} in prompt template ${JSON.stringify(template)}; use {question}, {options}, {answer}, and {{ / }} for literal braces`);
    }
  }
  if (!template.includes('{question}')) {
    throw new PromptError(`prompt template ${JSON.stringify(template)} has no {question} placeholder, so every prompt would be the same`);
  }
}

function fillUserTemplate(template: string, record: QARecord): string {
  return template.replace(PLACEHOLDER, (whole, name?: string) => {
    if (whole === '{{') return '{';
    if (whole === '}}') return '}';
    switch (name) {
      case 'question':
        return record.question;
      case 'options':
        return formatOptions(record.options);
      case 'answer':
        if (record.answer === undefined) throw new PromptError(`prompt template uses {answer} but record ${record.id} has no answer`);
        return record.answer;
      default:
        throw new PromptError(`unknown placeholder {${name}} in prompt template; use {question}, {options}, {answer}`);
    }
  });
}

function chat(ctx: PromptContext, messages: ChatMessage[], templateName: string): string {
  if (!ctx.applyChatTemplate) {
    throw new PromptError(`the "${templateName}" prompt needs a chat template, but the tokenizer${ctx.modelName ? ` of ${ctx.modelName}` : ''} has none; ` +
      'use the "bare" template (--template bare) for base models, or a user template without chat');
  }
  try {
    return ctx.applyChatTemplate(messages, { addGenerationPrompt: true });
  } catch (e) {
    throw new PromptError(`the chat template${ctx.modelName ? ` of ${ctx.modelName}` : ''} failed: ${(e as Error).message}; try --template bare`);
  }
}

/** The exact prompt text for one record (before tokenization). */
export function renderPrompt(t: PromptTemplate, record: QARecord, ctx: PromptContext = {}): string {
  switch (t.kind) {
    case 'seed-chat':
      return chat(ctx, [
        { role: 'system', content: t.system ?? SEED_SYSTEM_PROMPT },
        { role: 'user', content: seedUserMessage(record) },
      ], 'seed-chat');
    case 'bare':
      return `Q: ${record.question}\nA: `;
    case 'user': {
      const text = fillUserTemplate(t.template, record);
      if (!t.chat) return text;
      const messages: ChatMessage[] = t.system ? [{ role: 'system', content: t.system }] : [];
      messages.push({ role: 'user', content: text });
      return chat(ctx, messages, t.name ?? 'user');
    }
  }
}

/** JSON-serialisable description of a template: everything needed to rebuild the same prompts. */
export interface TemplateSpec {
  name: string;
  kind: PromptTemplate['kind'];
  /** Whether the text is wrapped in the tokenizer's chat template (with the generation prompt). */
  chat: boolean;
  system?: string;
  /** The text with placeholders; for seed-chat the user message. */
  text: string;
  /** seed-chat: the user message for questions without options. */
  textWithoutOptions?: string;
  optionLine: string;
  optionsHeader?: string;
  addGenerationPrompt?: boolean;
}

export function describeTemplate(t: PromptTemplate): TemplateSpec {
  switch (t.kind) {
    case 'seed-chat':
      return {
        name: 'seed-chat', kind: 'seed-chat', chat: true, system: t.system ?? SEED_SYSTEM_PROMPT,
        text: `Q: {question}\n${OPTIONS_HEADER}\n{options}\nA: `, textWithoutOptions: 'Q: {question}\nA: ',
        optionLine: OPTION_LINE, optionsHeader: OPTIONS_HEADER, addGenerationPrompt: true,
      };
    case 'bare':
      return { name: 'bare', kind: 'bare', chat: false, text: BARE_TEXT, optionLine: OPTION_LINE };
    case 'user': {
      const spec: TemplateSpec = { name: t.name ?? 'user', kind: 'user', chat: !!t.chat, text: t.template, optionLine: OPTION_LINE };
      if (t.chat) {
        spec.addGenerationPrompt = true;
        if (t.system) spec.system = t.system;
      }
      return spec;
    }
  }
}

/**
 * A template from a CLI flag or setting: "seed-chat", "bare", or a template text containing
 * {question}. In a text, the two-character escapes \n and \t become a newline and a tab, because
 * shells make real newlines awkward to type.
 */
export function parseTemplate(spec: string, opts: { chat?: boolean; system?: string } = {}): PromptTemplate {
  if (spec === 'seed-chat') return opts.system ? { kind: 'seed-chat', system: opts.system } : { kind: 'seed-chat' };
  if (spec === 'bare') return { kind: 'bare' };
  if (spec === 'text') return { ...TEXT_TEMPLATE };
  if (!spec.includes('{')) {
    throw new PromptError(`unknown prompt template "${spec}"; use ${TEMPLATE_NAMES.map((n) => `"${n}"`).join(' or ')}, or a text with {question} (and optionally {options}, {answer})`);
  }
  const template = spec.replace(/\\([nt\\])/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : '\\'));
  validateUserTemplate(template);
  const t: PromptTemplate = { kind: 'user', template };
  if (opts.chat) t.chat = true;
  if (opts.system) t.system = opts.system;
  return t;
}
