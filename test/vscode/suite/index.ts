/**
 * The entry VS Code's extension-test runner loads (`extensionTestsPath`): runs every
 * `*.test.js` beside it with mocha inside the extension host, and rejects when a test fails
 * (VS Code then exits with code 1, code-server reports it through codeAutomationExit).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Mocha from 'mocha';

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', timeout: 120_000, color: false, reporter: 'spec' });
  for (const f of fs.readdirSync(__dirname).filter((f) => f.endsWith('.test.js')).sort()) mocha.addFile(path.join(__dirname, f));
  return new Promise((resolve, reject) => {
    mocha.run((failures) => (failures > 0 ? reject(new Error(`${failures} LayerLab VS Code test(s) failed`)) : resolve()));
  });
}
