// The daemon's configuration file (/etc/ironbay/ironbay.yaml on an appliance). One schema,
// also published in the API's OpenAPI document. Reference: README.md#configuration.
import { Type, type Static } from 'typebox';

export const ConfigSchema = Type.Object(
  {
    dataDir: Type.String({ minLength: 1, default: '/var/lib/ironbay', description: 'SQLite database and generated state' }),
    inventory: Type.String({ minLength: 1, default: '/etc/ironbay/inventory.yaml', description: 'the inventory file the daemon watches' }),
    api: Type.Object(
      {
        listen: Type.String({ default: '127.0.0.1', description: 'address the HTTP API binds to' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 8470 }),
      },
      { additionalProperties: false, default: {} },
    ),
    log: Type.Object(
      {
        level: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace'], { default: 'info' }),
      },
      { additionalProperties: false, default: {} },
    ),
    boot: Type.Object(
      {
        // Empty by default: DHCP and TFTP are served only on interfaces named here, so a
        // fresh install can never become a rogue DHCP server on the production network.
        interfaces: Type.Array(Type.String({ minLength: 1, maxLength: 15 }), { default: [] }),
      },
      { additionalProperties: false, default: {} },
    ),
    inventoryReload: Type.Object(
      {
        debounceMs: Type.Integer({ minimum: 0, maximum: 60000, default: 300 }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
