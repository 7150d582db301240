/**
 * From a dataset record to prompt token ids for a given model: the one place that decides
 * the template default and whether BOS is added (chat templates write their own BOS).
 */
import { describeTemplate, parseTemplate, renderPrompt, TEXT_TEMPLATE, type PromptTemplate } from '../datasets/prompts';
import type { DatasetKind } from '../datasets/records';
import type { QARecord } from '../datasets/records';
import type { ModelTokenizer } from '../models/load';

/**
 * `--template` as given; for plain-text datasets the text itself; else the seed's chat prompt
 * when the tokenizer has a chat template and the paper's bare prompt otherwise (llama2.c models
 * have none). Returns why, for the log.
 */
export function chooseTemplate(tokenizer: ModelTokenizer, flag?: string, kind?: DatasetKind): { template: PromptTemplate; why: string } {
  const hasChat = typeof tokenizer.applyChatTemplate === 'function' && !!(tokenizer as { chatTemplate?: string }).chatTemplate;
  if (flag) return { template: parseTemplate(flag), why: `--template ${flag}` };
  if (kind === 'text') return { template: { ...TEXT_TEMPLATE }, why: 'default for plain-text data: the text as it is' };
  return hasChat
    ? { template: { kind: 'seed-chat' }, why: "default: the seed's chat prompt (the tokenizer has a chat template)" }
    : { template: { kind: 'bare' }, why: 'default: bare "Q: …\\nA: " prompt (the tokenizer has no chat template)' };
}

export interface PromptEncoder {
  template: PromptTemplate;
  text(record: QARecord): string;
  tokens(record: QARecord): number[];
}

export function promptEncoder(tokenizer: ModelTokenizer, template: PromptTemplate, modelName?: string): PromptEncoder {
  const chat = describeTemplate(template).chat;
  const ctx = { applyChatTemplate: tokenizer.applyChatTemplate?.bind(tokenizer), modelName };
  const text = (record: QARecord) => renderPrompt(template, record, ctx);
  return {
    template,
    text,
    // The rendered chat text already holds the BOS token, so only plain prompts get one added.
    tokens: (record) => tokenizer.encode(text(record), { addBos: !chat }),
  };
}
