/**
 * The WebGPU execution provider that onnxruntime-node bundles, run on a software Vulkan device
 * (Chromium's SwiftShader, which Debian's chromium package ships): the same hook points, edits and
 * greedy ids as the CPU on the tiny Llama, Qwen2 and huginn checkpoints; fp16 where the device
 * has 16-bit float shaders, else a clear refusal; a GPU that cannot start named with what to change.
 * Skipped with one line where no Vulkan device can be made.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDemoModel } from '../../models/demo';
import { writeTinyHuginn } from '../../models/huginn/demo';
import type { ParityRequest, ParityResult } from '../helpers/webgpuParity';
import { tmpDir } from '../helpers/tmp';

const ROOT = path.resolve(__dirname, '..', '..');
const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
/** Chromium ships the Vulkan loader too, for machines without Debian's libvulkan1. */
const CHROMIUM_LIBS = '/usr/lib/chromium';

function gpuEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const ld = [process.env.LD_LIBRARY_PATH, CHROMIUM_LIBS].filter(Boolean).join(':');
  return { ...process.env, ORT_DISABLE_TELEMETRY: '1', VK_ICD_FILENAMES: SWIFTSHADER, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', LD_LIBRARY_PATH: ld, ...extra };
}

function child(arg: string, env = gpuEnv()): { status: number | null; result: unknown } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'helpers', 'webgpuParity.ts'), arg], { cwd: ROOT, env, encoding: 'utf8', timeout: 600_000 });
  const line = r.stdout.trim().split('\n').pop();
  return { status: r.status, result: line ? JSON.parse(line) : { error: r.stderr } };
}

const noDevice: string | false = !fs.existsSync(SWIFTSHADER) ? `no software Vulkan device (${SWIFTSHADER} absent: apt-get install chromium)` : ((): string | false => {
  const r = child('probe').result;
  return r === null ? false : `WebGPU cannot start on SwiftShader here: ${JSON.stringify(r)}`;
})();

const root = tmpDir('layerlab-webgpu-');
const graphCacheDir = path.join(root, 'graphs');

function parity(req: Omit<ParityRequest, 'graphCacheDir'>): ParityResult {
  const r = child(JSON.stringify({ ...req, graphCacheDir }));
  assert.equal(r.status, 0, JSON.stringify(r.result));
  return r.result as ParityResult;
}

/*
 * fp32 tolerances: WebGPU's kernels sum in other orders than the CPU's (and may fuse differently),
 * 1e-4 to 3e-4 of scale on these models; 2e-3 leaves room and is still far below what any wrong
 * operation produces (the edit alone moves the logits by > 1e-2).
 */
const FP32_TOL = 2e-3;

describe('WebGPU parity with the CPU (SwiftShader)', { skip: noDevice }, () => {
  const cases: [string, () => Omit<ParityRequest, 'graphCacheDir'>][] = [
    ['llama (tied, GQA)', () => ({ model: writeDemoModel(path.join(root, 'llama'), { seed: 31, nLayers: 3 }).dir })],
    ['qwen2 (q/k/v bias, untied)', () => ({ model: writeDemoModel(path.join(root, 'qwen2'), { seed: 32, modelType: 'qwen2', tied: false, nKvHeads: 1 }).dir })],
    ['huginn (num_steps 2)', () => ({ model: writeTinyHuginn(path.join(root, 'huginn'), { seed: 33 }).dir, modelOptions: { numSteps: 2 } })],
  ];
  for (const [name, req] of cases) {
    test(`${name}, fp32: hook points, logits, edits and greedy ids as on the CPU`, (t) => {
      const r = parity(req());
      t.diagnostic(`hooks ${r.hooks.toExponential(2)}, logits ${r.logits.toExponential(2)}, edited hooks ${r.editedHooks.toExponential(2)}, edited logits ${r.editedLogits.toExponential(2)} (relative)`);
      assert.equal(r.provider, 'webgpu');
      for (const k of ['hooks', 'logits', 'editedHooks', 'editedLogits'] as const) assert.ok(r[k] <= FP32_TOL, `${k} ${r[k]}`);
      assert.ok(r.editMoved, 'the edit changed the outputs on both providers');
      assert.deepEqual(r.greedy.webgpu, r.greedy.cpu);
      assert.deepEqual(r.greedy.webgpuEdited, r.greedy.cpuEdited);
    });
  }

  test('int8 on WebGPU: within 15% of the CPU (whose MatMulNBits quantizes activations); greedy ids reported', (t) => {
    const r = parity({ model: path.join(root, 'llama'), weights: 'int8' });
    t.diagnostic(`hooks ${r.hooks.toExponential(2)}, logits ${r.logits.toExponential(2)}; greedy cpu ${r.greedy.cpu.join(' ')} | webgpu ${r.greedy.webgpu.join(' ')}`);
    assert.ok(r.hooks <= 0.15 && r.logits <= 0.15, JSON.stringify(r));
  });

  test('fp16: runs within 2% of the CPU (fp32) where the device has 16-bit float shaders, else is refused naming what to choose', (t) => {
    const r = child(JSON.stringify({ model: path.join(root, 'llama'), graphCacheDir: path.join(root, 'fp16-graphs'), weights: 'fp16', openOnly: true }));
    if ((r.result as { error?: string }).error === undefined) {
      const p = parity({ model: path.join(root, 'llama'), weights: 'fp16' });
      t.diagnostic(`hooks ${p.hooks.toExponential(2)}, logits ${p.logits.toExponential(2)}`);
      assert.ok(p.hooks <= 0.02 && p.logits <= 0.02, JSON.stringify(p));
      return;
    }
    const res = r.result as { error: string };
    t.diagnostic(res.error);
    assert.match(res.error, /fp16 weights need 16-bit float support on the GPU, but .*: choose weights fp32, int8 or int4 for provider webgpu/);
    assert.ok(!fs.existsSync(path.join(root, 'fp16-graphs')) || fs.readdirSync(path.join(root, 'fp16-graphs')).length === 0, 'nothing written');
  });
});

test('provider webgpu with no usable GPU: a clear message naming what to change, and nothing written', () => {
  const cache = path.join(root, 'no-gpu');
  const model = writeDemoModel(path.join(root, 'no-gpu-model'), { seed: 34 }).dir;
  // No driver at all: the Vulkan loader finds no device.
  const r = child(JSON.stringify({ model, graphCacheDir: cache, openOnly: true }), gpuEnv({ VK_ICD_FILENAMES: path.join(root, 'no-such-driver.json') }));
  const res = r.result as { error: string; name: string };
  assert.equal(r.status, 2);
  assert.equal(res.name, 'ProviderUnavailableError');
  assert.match(res.error, /WebGPU execution provider could not start: no GPU adapter found\. WebGPU needs a GPU with a Vulkan driver .* otherwise choose provider 'cpu'/);
  assert.ok(!fs.existsSync(cache) || fs.readdirSync(cache).length === 0, 'nothing written');
});
