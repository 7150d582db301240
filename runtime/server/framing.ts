/**
 * The runtime's stdin, checked frame by frame before vscode-jsonrpc reads it, so that the process
 * never goes silent. vscode-jsonrpc stops reading at a framing error without a word, waits forever
 * on garbage that has no header terminator, and gives no reply to JSON-RPC batches or to requests
 * whose id is not a string or a number. Here:
 *
 *   - a frame whose header is not `Name: value` lines with a numeric Content-Length, a header over
 *     8 KiB, or a frame that stays incomplete for longer than the timeout, is a framing error:
 *     the stream can no longer be trusted, so the process exits with the reason on stderr and the
 *     extension's restart logic takes over;
 *   - a body that is not JSON is answered with Parse error (-32700), a batch or a message that is
 *     not a JSON-RPC 2.0 request, notification or response with Invalid Request (-32600), as the
 *     JSON-RPC 2.0 specification says, and the stream goes on;
 *   - everything else is passed on unchanged.
 */
import { PassThrough, type Readable } from 'node:stream';

const CRLF2 = Buffer.from('\r\n\r\n');
const MAX_HEADER_BYTES = 8 * 1024;
const HEADER_LINE = /^[A-Za-z][A-Za-z0-9-]*:[ \t]*[^\r\n]*$/;

export interface FrameGuardOptions {
  /** Writes a JSON-RPC message to the client (the protocol's stdout). */
  reply(message: object): void;
  /** The stream is broken beyond repair; `why` says how. */
  onFramingError(why: string): void;
  /** How long a frame may stay incomplete (default 10 s: a local pipe delivers within milliseconds). */
  timeoutMs?: number;
}

/** JSON-RPC 2.0's own error codes. */
const PARSE_ERROR = -32700;
const INVALID_REQUEST = -32600;

/** Why a parsed body is not one JSON-RPC message we can pass on, or undefined when it is. */
export function invalidMessage(v: unknown): string | undefined {
  if (Array.isArray(v)) return 'batches are not supported: send one JSON-RPC message per frame';
  if (v === null || typeof v !== 'object') return 'a JSON-RPC message is a JSON object';
  const m = v as Record<string, unknown>;
  if (m.jsonrpc !== '2.0') return 'jsonrpc must be "2.0"';
  const idOk = (id: unknown) => typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));
  if ('method' in m) {
    if (typeof m.method !== 'string') return 'method must be a string';
    if ('id' in m && !idOk(m.id) && m.id !== null) return 'id must be a string or a number';
    if ('params' in m && (m.params === null || typeof m.params !== 'object')) return 'params must be an object or an array';
    return undefined;
  }
  // A response to something the runtime asked (it asks nothing today, but the protocol allows it).
  if ('id' in m && ('result' in m || 'error' in m) && (idOk(m.id) || m.id === null)) return undefined;
  return 'not a request, a notification or a response';
}

/** Returns the stream vscode-jsonrpc should read instead of `input`. */
export function guardFrames(input: Readable, opts: FrameGuardOptions): Readable {
  const out = new PassThrough();
  let buf: Buffer = Buffer.alloc(0);
  let failed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeoutMs = opts.timeoutMs ?? 10_000;

  const fail = (why: string) => {
    if (failed) return;
    failed = true;
    clearTimeout(timer);
    opts.onFramingError(why);
  };
  const errorReply = (code: number, message: string) => opts.reply({ jsonrpc: '2.0', id: null, error: { code, message } });

  const drain = () => {
    while (!failed && buf.length > 0) {
      const end = buf.indexOf(CRLF2);
      const headerText = (end < 0 ? buf : buf.subarray(0, end)).toString('latin1');
      // Check what has arrived of the header at once: garbage must not wait for a terminator.
      const lines = headerText.split('\r\n');
      const complete = end < 0 ? lines.slice(0, -1) : lines;
      const bad = complete.find((l) => !HEADER_LINE.test(l));
      if (bad !== undefined) return fail(`framing error: header line ${JSON.stringify(bad.slice(0, 80))} is not "Name: value"`);
      if (end < 0) {
        const partial = lines.at(-1)!;
        if (partial && !/^[A-Za-z][A-Za-z0-9-]*(:[^\r\n]*)?\r?$/.test(partial)) return fail(`framing error: ${JSON.stringify(partial.slice(0, 80))} does not start a header`);
        if (buf.length > MAX_HEADER_BYTES) return fail(`framing error: no end of header after ${buf.length} bytes`);
        return;
      }
      if (end > MAX_HEADER_BYTES) return fail(`framing error: a header of ${end} bytes`);
      const lengthLine = complete.find((l) => /^content-length:/i.test(l));
      if (!lengthLine) return fail(`framing error: a header without Content-Length (${JSON.stringify(headerText.slice(0, 80))})`);
      const raw = lengthLine.slice(lengthLine.indexOf(':') + 1).trim();
      if (!/^\d+$/.test(raw)) return fail(`framing error: Content-Length ${JSON.stringify(raw)} is not a number of bytes`);
      const length = Number(raw);
      const total = end + CRLF2.length + length;
      if (buf.length < total) return;
      const frame = buf.subarray(0, total);
      const body = buf.subarray(end + CRLF2.length, total);
      buf = buf.subarray(total);
      let parsed: unknown;
      try {
        parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
      } catch (e) {
        errorReply(PARSE_ERROR, `Parse error: ${(e as Error).message}`);
        continue;
      }
      const why = invalidMessage(parsed);
      if (why) {
        errorReply(INVALID_REQUEST, `Invalid Request: ${why}`);
        continue;
      }
      out.write(Buffer.from(frame));
    }
  };

  input.on('data', (chunk: Buffer) => {
    if (failed) return;
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    drain();
    clearTimeout(timer);
    // Part of a frame is waiting: it must complete soon, or the client is broken.
    if (!failed && buf.length > 0) {
      timer = setTimeout(() => fail(`framing error: ${buf.length} bytes of an incomplete frame waited ${timeoutMs / 1000} s`), timeoutMs);
      timer.unref();
    }
  });
  input.on('end', () => out.end());
  input.on('close', () => out.destroy());
  input.on('error', (e) => out.destroy(e));
  return out;
}
