import assert from 'node:assert/strict';
import { test } from 'node:test';

test('the suite runs on the pinned Node.js 24 runtime, not the machine Node', () => {
  assert.ok(process.versions.node.startsWith('24.'), `running on Node ${process.versions.node}`);
});
