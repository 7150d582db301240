/**
 * `layerlab serve`: a model LayerLab runs, behind the OpenAI chat-completions protocol
 * (`POST /v1/chat/completions`, `GET /v1/models`), so that anything speaking that protocol — the
 * model annotator among them — can use it. Decoding is greedy (temperature and top_p are
 * ignored and said so in the log); one request runs at a time, the others wait their turn.
 * It listens on 127.0.0.1 unless told otherwise.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { ChatError, type ChatModel } from './chat';

const requestSchema = z.object({
  model: z.string().optional(),
  messages: z.array(z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() })).min(1),
  max_tokens: z.number().int().positive().optional(),
  max_completion_tokens: z.number().int().positive().optional(),
  temperature: z.number().optional(),
  top_p: z.number().optional(),
  n: z.number().int().optional(),
  stream: z.boolean().optional(),
}).passthrough();

export interface ServeOptions {
  host: string;
  port: number;
  /** The id `GET /v1/models` lists and replies carry. */
  modelId: string;
  /** Used when a request names no max_tokens. */
  defaultMaxTokens: number;
  log(message: string): void;
  onRequest?(served: number): void;
}

export interface RunningServer {
  url: string;
  served(): number;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 16 << 20;

export async function serveChat(chat: ChatModel, opts: ServeOptions): Promise<RunningServer> {
  let served = 0;
  // One generation at a time: the model is one ONNX Runtime session.
  let queue: Promise<unknown> = Promise.resolve();
  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const fail = (res: http.ServerResponse, status: number, message: string, code = 'invalid_request_error') =>
    send(res, status, { error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error', code } });

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'GET' && url.pathname === '/v1/models') {
      return send(res, 200, { object: 'list', data: [{ id: opts.modelId, object: 'model', created: 0, owned_by: 'layerlab' }] });
    }
    if (url.pathname !== '/v1/chat/completions') return fail(res, 404, `no such endpoint: ${req.method} ${url.pathname} (this server has POST /v1/chat/completions and GET /v1/models)`, 'not_found');
    if (req.method !== 'POST') return fail(res, 405, 'use POST', 'method_not_allowed');
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        fail(res, 413, 'request body too large');
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      let body: z.infer<typeof requestSchema>;
      try {
        const r = requestSchema.safeParse(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        if (!r.success) return fail(res, 400, `${r.error.issues[0]!.path.join('.')}: ${r.error.issues[0]!.message}`);
        body = r.data;
      } catch (e) {
        return fail(res, 400, `the body is not JSON: ${(e as Error).message}`);
      }
      if (body.stream) return fail(res, 400, 'streaming is not supported by layerlab serve; send stream: false');
      if (body.n !== undefined && body.n !== 1) return fail(res, 400, 'only n = 1 is supported (decoding is greedy)');
      if ((body.temperature ?? 0) !== 0 || (body.top_p ?? 1) !== 1) opts.log('serve: temperature/top_p ignored: decoding is greedy');
      const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? opts.defaultMaxTokens;
      const job = queue.then(async () => {
        try {
          const reply = await chat.complete(body.messages, { maxTokens });
          served++;
          opts.onRequest?.(served);
          send(res, 200, {
            id: `chatcmpl-layerlab-${served}`,
            object: 'chat.completion',
            created: Math.floor(Date.now() / 1000),
            model: opts.modelId,
            system_fingerprint: 'layerlab-greedy',
            choices: [{ index: 0, message: { role: 'assistant', content: reply.content }, finish_reason: reply.finishReason }],
            usage: { prompt_tokens: reply.promptTokens ?? 0, completion_tokens: reply.completionTokens ?? 0, total_tokens: (reply.promptTokens ?? 0) + (reply.completionTokens ?? 0) },
          });
        } catch (e) {
          if (e instanceof ChatError) fail(res, 400, e.message, e.code);
          else fail(res, 500, (e as Error).message, 'server_error');
        }
      });
      queue = job.catch(() => undefined);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}/v1`,
    served: () => served,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
