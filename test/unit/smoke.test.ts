import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedFile } from '../helpers/sharedData';

test('shared data helper reports a skip reason or a path', () => {
  const f = sharedFile('stories260K/stories260K.bin');
  assert.ok(f.skip === false || f.skip.includes('absent'));
});
