import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { GENERATED, render } from '../../inventory/schema-json.ts';

test('the committed JSON schemas are exactly what their TypeBox sources generate (npm run schema)', () => {
  for (const g of GENERATED) assert.equal(readFileSync(g.file, 'utf8'), render(g.schema), `${g.file.pathname} is stale: run npm run schema`);
});
