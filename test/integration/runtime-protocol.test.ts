/**
 * The runtime process against a hostile client, byte by byte on its stdin: every message either
 * gets a JSON-RPC error reply (and the process keeps serving) or the process exits with a logged
 * reason (and the extension restarts it). It never goes silent.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { JOB_NAMES, JOBS } from '../../runtime/protocol/jobs';
import { PROTOCOL_VERSION } from '../../runtime/protocol/requests';

const REPO = path.resolve(__dirname, '..', '..');
const MAIN = path.join(REPO, 'runtime', 'server', 'main.ts');
const children: ChildProcess[] = [];
after(() => children.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill('SIGKILL')));

interface Rpc {
  send(bytes: string | Buffer): void;
  message(o: object): void;
  /** The next message the runtime writes that is not a log notification. */
  next(ms?: number): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; stderr: string }>;
}

function runtime(...args: string[]): Rpc {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: REPO, env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } });
  children.push(child);
  let out = Buffer.alloc(0);
  let stderr = '';
  const queue: Record<string, unknown>[] = [];
  const waiters: ((m: Record<string, unknown>) => void)[] = [];
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.on('data', (d: Buffer) => {
    out = Buffer.concat([out, d]);
    for (;;) {
      const end = out.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = Number(/Content-Length: (\d+)/i.exec(out.subarray(0, end).toString())![1]);
      if (out.length < end + 4 + len) return;
      const msg = JSON.parse(out.subarray(end + 4, end + 4 + len).toString()) as Record<string, unknown>;
      out = out.subarray(end + 4 + len);
      if (msg.method === 'layerlab/log') continue;
      const w = waiters.shift();
      if (w) w(msg);
      else queue.push(msg);
    }
  });
  const exited = new Promise<{ code: number | null; stderr: string }>((r) => child.once('exit', (code) => setTimeout(() => r({ code, stderr }), 50)));
  return {
    send: (b) => child.stdin.write(b),
    message(o) {
      const body = Buffer.from(JSON.stringify(o));
      child.stdin.write(Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`), body]));
    },
    next(ms = 5000) {
      const m = queue.shift();
      if (m) return Promise.resolve(m);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no message within ${ms} ms; stderr: ${stderr}`)), ms);
        waiters.push((x) => {
          clearTimeout(t);
          resolve(x);
        });
      });
    },
    exited,
  };
}

const frame = (body: string) => `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

describe('the runtime process never goes silent', () => {
  it('answers each malformed message with a JSON-RPC error and keeps serving', async () => {
    const rt = runtime();
    const expectError = async (send: () => void, code: number, re: RegExp, id: unknown = null) => {
      send();
      const m = await rt.next();
      assert.equal((m.error as { code: number }).code, code, JSON.stringify(m));
      assert.match((m.error as { message: string }).message, re);
      assert.deepEqual(m.id, id);
    };
    await expectError(() => rt.send(frame('{"jsonrpc":"2.0","id":1,"method":')), -32700, /Parse error/);
    await expectError(() => rt.send(frame('[]')), -32600, /batches are not supported/);
    await expectError(() => rt.message([{ jsonrpc: '2.0', id: 1, method: 'layerlab/initialize', params: { protocolVersion: 2, client: 'x' } }]), -32600, /batches are not supported/);
    await expectError(() => rt.message({ jsonrpc: '2.0', id: { a: 1 }, method: 'layerlab/modelInfo', params: {} }), -32600, /id must be a string or a number/);
    await expectError(() => rt.message({ jsonrpc: '1.0', id: 2, method: 'layerlab/modelInfo', params: {} }), -32600, /jsonrpc must be "2.0"/);
    await expectError(() => rt.send(frame('42')), -32600, /a JSON object/);
    await expectError(() => rt.message({ jsonrpc: '2.0', id: 3, method: 'layerlab/modelInfo', params: 7 }), -32600, /params must be an object/);
    await expectError(() => rt.send(frame('{"jsonrpc":"2.0","id":4,"method":"x"}\xff')), -32700, /Parse error/);
    await expectError(() => rt.message({ jsonrpc: '2.0', id: 5, method: 'layerlab/nope', params: {} }), -32601, /nope/, 5);

    // Wrong parameter types for every request: InvalidParams naming the field, never a "bug".
    let id = 100;
    const wrong: [string, unknown][] = [
      ['layerlab/initialize', { protocolVersion: 'two', client: 'x' }],
      ['layerlab/modelInfo', { extra: 1 }],
      ['layerlab/runtimeStatus', { extra: 1 }],
      ['layerlab/describeModel', { model: 5 }],
      ['layerlab/listCaches', { folder: ['a'] }],
      ['layerlab/inspectDataset', { file: 'x.json', limit: 'all' }],
      ...JOB_NAMES.map((n) => [JOBS[n].request.method, { model: 5, cache: 5, target: 5, modelsPath: 5 }] as [string, unknown]),
    ];
    for (const [method, params] of wrong) {
      const m = await (rt.message({ jsonrpc: '2.0', id: ++id, method, params }), rt.next());
      assert.equal(m.id, id, method);
      assert.equal((m.error as { code: number } | undefined)?.code, -32602, `${method}: ${JSON.stringify(m)}`);
      assert.doesNotMatch((m.error as { message: string }).message, /LayerLab bug|Cannot read properties/, method);
    }

    // Still serving.
    rt.message({ jsonrpc: '2.0', id: 'ok', method: 'layerlab/initialize', params: { protocolVersion: PROTOCOL_VERSION, client: 'fuzz' } });
    const init = await rt.next();
    assert.equal(init.id, 'ok');
    assert.equal((init.result as { protocolVersion: number }).protocolVersion, PROTOCOL_VERSION);
  });

  const fatal: [string, string | Buffer, RegExp][] = [
    ['a header line that is not "Name: value"', 'hello world\r\n', /framing error: header line "hello world" is not "Name: value"/],
    ['binary garbage with no header terminator', Buffer.from([0, 1, 2, 255, 254]), /framing error: .* does not start a header/],
    ['a Content-Length that is not a number', 'Content-Length: abc\r\n\r\n{}', /framing error: Content-Length "abc" is not a number of bytes/],
    ['a header without Content-Length', 'Content-Type: json\r\n\r\n{}', /framing error: a header without Content-Length/],
    ['a frame that never completes', 'Content-Length: 100\r\n\r\n{"jsonrpc"', /framing error: 33 bytes of an incomplete frame waited 0\.3 s/],
  ];
  for (const [what, bytes, re] of fatal) {
    it(`exits with the reason on stderr after ${what}`, async () => {
      const rt = runtime('--framing-timeout-ms', '300');
      const t0 = Date.now();
      rt.send(bytes);
      const { code, stderr } = await rt.exited;
      assert.equal(code, 1);
      assert.match(stderr, re);
      assert.ok(Date.now() - t0 < 5000, 'promptly');
    });
  }
});
