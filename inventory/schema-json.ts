// Writes the JSON Schema documents of the inventory and the daemon config, generated from
// their TypeBox definitions (inventory/schema.ts, daemon/config/schema.ts), which stay the
// source of truth. The validators load the JSON: the TypeBox module graph takes ~250 ms to
// import, paid by every CLI run and every inventory reload's validating process.
// A unit test fails when a committed file differs from what this generates.
//
//   node inventory/schema-json.ts        (npm run schema)
import { writeFileSync } from 'node:fs';
import { ConfigSchema } from '../daemon/config/schema.ts';
import { InventorySchema } from './schema.ts';

export const GENERATED: readonly { file: URL; schema: object }[] = [
  { file: new URL('./schema.json', import.meta.url), schema: InventorySchema },
  { file: new URL('../daemon/config/schema.json', import.meta.url), schema: ConfigSchema },
];

export const render = (schema: object): string => JSON.stringify(schema, null, 2) + '\n';

if (import.meta.main) {
  for (const g of GENERATED) writeFileSync(g.file, render(g.schema));
}
