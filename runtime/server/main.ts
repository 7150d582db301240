/**
 * The runtime process: JSON-RPC over stdio for the extension (or any client).
 *
 *   node dist/runtime.js [--parent-pid PID]
 *
 * stdout carries protocol only (see stdio.ts); logs travel as `layerlab/log` notifications;
 * whatever reaches stderr (native libraries, a crash) the client logs as errors. The process
 * exits on `exit`, when its stdin closes, or when PID (the extension host) dies.
 */
import { parseArgs } from 'node:util';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import { LogNotification, type LogLevel } from '../protocol/requests';
import { guardFrames } from './framing';
import { watchParent } from './parentWatch';
import { RuntimeServer, type RuntimeServerOptions } from './server';
import { claimStdout, redirectConsole } from './stdio';

/** Starts serving on stdio. `handlers` replaces job handlers (tests use it for jobs that misbehave on purpose). */
export function runRuntime(argv: string[], opts: Pick<RuntimeServerOptions, 'handlers'> = {}): void {
  const { values } = parseArgs({
    args: argv,
    options: { 'parent-pid': { type: 'string' }, 'parent-poll-ms': { type: 'string' }, 'framing-timeout-ms': { type: 'string' } },
    strict: true,
  });

  // Until the connection exists, redirected output has nowhere to go but stderr.
  let sink = (level: LogLevel, message: string): void => {
    process.stderr.write(`[${level}] ${message}\n`);
  };
  const protocolOut = claimStdout((l, m) => sink(l, m));
  redirectConsole((l, m) => sink(l, m));

  let exiting = false;
  /** Ends the process when the stream cannot be trusted any more, saying why (the client restarts it). */
  const brokenStream = (why: string) => {
    process.stderr.write(`layerlab runtime: exiting: ${why}\n`);
    exit(1);
  };
  const frames = guardFrames(process.stdin, {
    reply: (message) => {
      const body = Buffer.from(JSON.stringify(message), 'utf8');
      protocolOut.write(Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'ascii'), body]));
    },
    onFramingError: brokenStream,
    ...(values['framing-timeout-ms'] ? { timeoutMs: Number(values['framing-timeout-ms']) } : {}),
  });
  const reader = new StreamMessageReader(frames);
  reader.onError((e) => brokenStream(`unreadable message: ${e.message.split('\n')[0]}`));
  const connection = createMessageConnection(reader, new StreamMessageWriter(protocolOut));
  const exit = (code: number) => {
    if (exiting) return;
    exiting = true;
    // Let the last messages (the shutdown reply, a final log) reach the pipe before leaving.
    protocolOut.end(() => process.exit(code));
    setTimeout(() => process.exit(code), 1000).unref();
  };
  const server = new RuntimeServer(connection, { ...opts, exit });
  sink = (level, message) => {
    connection.sendNotification(LogNotification, { level, message }).catch(() => {});
  };

  const parentPid = values['parent-pid'] === undefined ? undefined : Number(values['parent-pid']);
  if (parentPid !== undefined) {
    if (!Number.isInteger(parentPid) || parentPid <= 0) {
      process.stderr.write(`layerlab runtime: --parent-pid must be a process id, got '${values['parent-pid']}'\n`);
      process.exit(2);
    }
    const pollMs = values['parent-poll-ms'] ? Number(values['parent-poll-ms']) : 2000;
    watchParent(
      parentPid,
      (why) => {
        process.stderr.write(`layerlab runtime: exiting: ${why}\n`);
        exit(1);
      },
      pollMs,
    );
  }
  process.on('uncaughtException', (e) => {
    process.stderr.write(`layerlab runtime: uncaught exception: ${e?.stack ?? e}\n`);
    process.exit(1);
  });
  connection.listen();
  server.log('debug', `runtime listening on stdio (pid ${process.pid}${parentPid ? `, parent ${parentPid}` : ''})`);
}

if (require.main === module) runRuntime(process.argv.slice(2));
