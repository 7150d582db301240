/**
 * Chat completion, two ways behind one interface: a model LayerLab runs itself (greedy, in this
 * process), or any OpenAI-compatible HTTP endpoint (`POST {base}/chat/completions`) the user
 * configured. `layerlab serve` (./serve.ts) puts the first behind the second's protocol, and both
 * render a conversation with `renderChat`, so a local model answers the same over HTTP as in
 * process (tested).
 *
 * An endpoint is contacted only when configured: nothing here has a default URL.
 */
import type { ModelTokenizer } from '../../models/load';
import { generateGreedy } from '../generate';
import type { InstrumentedModel } from '../model';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatReply {
  content: string;
  finishReason: 'stop' | 'length';
  promptTokens?: number;
  completionTokens?: number;
}

export interface ChatModel {
  /** For provenance: what answered (never holds a key). */
  describe(): Record<string, string | number>;
  complete(messages: ChatMessage[], opts: { maxTokens: number; signal?: AbortSignal }): Promise<ChatReply>;
}

/** A request the chat model refused (too long, bad input): the message says what to change. */
export class ChatError extends Error {
  constructor(
    message: string,
    /** OpenAI's error codes where one applies (`context_length_exceeded`, `invalid_request_error`). */
    readonly code = 'invalid_request_error',
  ) {
    super(message);
    this.name = 'ChatError';
  }
}

/**
 * A conversation as prompt ids: the tokenizer's chat template with the generation prompt, or, for
 * a model without one (llama2.c), `role: content` lines then `assistant: ` after BOS.
 */
export function renderChat(tokenizer: ModelTokenizer, messages: ChatMessage[]): { text: string; ids: number[] } {
  const chat = typeof tokenizer.applyChatTemplate === 'function' && !!(tokenizer as { chatTemplate?: string }).chatTemplate;
  if (chat) {
    const text = tokenizer.applyChatTemplate!(messages, { addGenerationPrompt: true });
    return { text, ids: tokenizer.encode(text, { addBos: false }) };
  }
  const text = messages.map((m) => `${m.role}: ${m.content}\n`).join('') + 'assistant: ';
  return { text, ids: tokenizer.encode(text, { addBos: true }) };
}

/** A model this process runs: greedy decoding to the tokenizer's end-of-turn, as `layerlab generate`. */
export class LocalChatModel implements ChatModel {
  constructor(
    private readonly model: InstrumentedModel,
    private readonly tokenizer: ModelTokenizer,
    private readonly name: string,
  ) {}

  describe(): Record<string, string | number> {
    return { kind: 'local', model: this.name };
  }

  async complete(messages: ChatMessage[], opts: { maxTokens: number; signal?: AbortSignal }): Promise<ChatReply> {
    const { ids } = renderChat(this.tokenizer, messages);
    const ctx = this.model.spec.maxSeqLen;
    if (ids.length >= ctx) {
      throw new ChatError(`the conversation is ${ids.length} tokens, but ${this.name} has a context of ${ctx}`, 'context_length_exceeded');
    }
    const [g] = await generateGreedy(this.model, this.tokenizer, [ids], {
      maxNewTokens: Math.min(opts.maxTokens, ctx - ids.length),
      stopStrings: this.tokenizer.stopStrings,
      signal: opts.signal,
    });
    return {
      content: g!.text,
      finishReason: g!.stopReason === 'max-new-tokens' || g!.stopReason === 'context-full' ? 'length' : 'stop',
      promptTokens: ids.length,
      completionTokens: g!.ids.length,
    };
  }
}

/** An OpenAI-compatible chat-completions endpoint. */
export class EndpointChatModel implements ChatModel {
  private readonly url: string;

  constructor(
    base: string,
    private readonly model: string,
    /** The API key itself (read from the environment variable the user named), or none. */
    private readonly apiKey: string | undefined,
    private readonly timeoutMs: number,
  ) {
    let u: URL;
    try {
      u = new URL(base);
    } catch {
      throw new ChatError(`--endpoint ${base} is not a URL (e.g. http://127.0.0.1:8000/v1)`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ChatError(`--endpoint ${base}: only http and https endpoints are supported`);
    this.url = `${base.replace(/\/+$/, '')}/chat/completions`;
  }

  describe(): Record<string, string | number> {
    return { kind: 'endpoint', url: this.url, model: this.model };
  }

  async complete(messages: ChatMessage[], opts: { maxTokens: number; signal?: AbortSignal }): Promise<ChatReply> {
    const signals = [AbortSignal.timeout(this.timeoutMs), ...(opts.signal ? [opts.signal] : [])];
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}) },
        body: JSON.stringify({ model: this.model, messages, max_tokens: opts.maxTokens, temperature: 0 }),
        signal: AbortSignal.any(signals),
      });
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      const err = e as Error & { cause?: { code?: string; message?: string } };
      if (err.name === 'TimeoutError') throw new ChatError(`the annotator endpoint ${this.url} did not answer within ${this.timeoutMs / 1000} s (--endpoint_timeout)`, 'timeout');
      const why = err.cause?.code ?? err.cause?.message ?? err.message;
      throw new ChatError(`the annotator endpoint ${this.url} is unreachable (${why}): check --endpoint and that the server is running`, 'unreachable');
    }
    const body = await res.text();
    if (!res.ok) {
      let detail = body.slice(0, 300);
      try {
        detail = (JSON.parse(body) as { error?: { message?: string } }).error?.message ?? detail;
      } catch {
        // not JSON: the text itself says it
      }
      throw new ChatError(`the annotator endpoint ${this.url} answered HTTP ${res.status}: ${detail}`, res.status === 400 ? 'invalid_request_error' : `http_${res.status}`);
    }
    let parsed: { choices?: { message?: { content?: unknown }; finish_reason?: unknown }[]; usage?: { prompt_tokens?: number; completion_tokens?: number } };
    try {
      parsed = JSON.parse(body);
    } catch {
      throw new ChatError(`the annotator endpoint ${this.url} answered with something that is not JSON: ${body.slice(0, 120)}`, 'bad_response');
    }
    const choice = parsed.choices?.[0];
    if (typeof choice?.message?.content !== 'string') {
      throw new ChatError(`the annotator endpoint ${this.url} answered without choices[0].message.content (is it an OpenAI-compatible chat-completions endpoint?)`, 'bad_response');
    }
    return {
      content: choice.message.content,
      finishReason: choice.finish_reason === 'length' ? 'length' : 'stop',
      promptTokens: parsed.usage?.prompt_tokens,
      completionTokens: parsed.usage?.completion_tokens,
    };
  }
}
