/**
 * Keeps the runtime's stdout for protocol only. In server mode anything else that writes to
 * stdout (console.log in a library, a stray debug print) would corrupt the JSON-RPC stream and
 * kill the connection, so: the protocol gets a private handle on the real stdout, and
 * process.stdout.write and console.* are redirected to log notifications.
 */
import { Writable } from 'node:stream';
import { format } from 'node:util';
import type { LogLevel } from '../protocol/requests';

export type LogSink = (level: LogLevel, message: string) => void;

/**
 * Returns a stream that writes to the real stdout, for the message writer, after replacing
 * process.stdout.write with a redirect to `sink`. Call once, before anything else can print.
 */
export function claimStdout(sink: LogSink): Writable {
  const realWrite = process.stdout.write.bind(process.stdout) as (chunk: Uint8Array | string, cb: (err?: Error | null) => void) => boolean;
  const protocolOut = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      realWrite(chunk, callback);
    },
  });
  process.stdout.write = ((chunk: Uint8Array | string, encodingOrCb?: unknown, cb?: unknown) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (text.trim()) sink('info', `(stdout) ${text.replace(/\n$/, '')}`);
    const done = typeof encodingOrCb === 'function' ? encodingOrCb : cb;
    if (typeof done === 'function') process.nextTick(done as () => void);
    return true;
  }) as typeof process.stdout.write;
  return protocolOut;
}

/** console.* → log notifications at the matching level. */
export function redirectConsole(sink: LogSink): void {
  const to = (level: LogLevel) => (...args: unknown[]) => sink(level, format(...args));
  console.log = to('info');
  console.info = to('info');
  console.debug = to('debug');
  console.trace = (...args: unknown[]) => sink('trace', `${format(...args)}\n${new Error().stack?.split('\n').slice(2).join('\n') ?? ''}`);
  console.warn = to('warn');
  console.error = to('error');
}
