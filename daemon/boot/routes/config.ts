// GET /boot/config/:boot/:key/:file: the installer's per-machine configuration (seed.ts), as a
// cloud-init NoCloud seed URL (`ds=nocloud;s=…/`) or for ironbay's busybox installer. The key
// ties the URL to one boot (seedKey): a guessed boot id alone gets a 404.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { timingSafeEqual } from 'node:crypto';
import { Type } from 'typebox';
import type { Machine, Profile } from '../../../inventory/schema.ts';
import type { BootAppDeps } from '../http-app.ts';
import { bootLookup } from '../lookup.ts';
import { SEED_FILES, seedFile, seedKey } from '../seed.ts';

export const configRoutes: FastifyPluginAsyncTypebox<BootAppDeps> = async (app, { store, applianceKeys }) => {
  const lookup = bootLookup(store);
  const session = store.db.prepare('SELECT s.token_hash, m.spec, m.profile FROM boot_sessions s JOIN machines m ON m.id = s.machine_id WHERE s.id = ?');
  app.get(
    '/boot/config/:boot/:key/:file',
    { schema: { params: Type.Object({ boot: Type.Integer({ minimum: 1 }), key: Type.String({ maxLength: 64 }), file: Type.Enum([...SEED_FILES]) }) } },
    async (req, reply) => {
      const { boot, key, file } = req.params;
      const row = session.get(boot) as { token_hash: string | null; spec: string; profile: string | null } | undefined;
      const want = row?.token_hash ? Buffer.from(seedKey(row.token_hash)) : undefined;
      if (!row || !want || want.length !== Buffer.byteLength(key) || !timingSafeEqual(want, Buffer.from(key))) {
        return reply.code(404).type('text/plain').send('no such boot configuration\n');
      }
      const profile: Profile | undefined = row.profile ? lookup.profile(row.profile) : undefined;
      reply.type(file === 'ironbay.env' ? 'text/plain; charset=utf-8' : 'text/yaml; charset=utf-8').header('cache-control', 'no-store');
      return seedFile(file, JSON.parse(row.spec) as Machine, profile, boot, applianceKeys?.() ?? []);
    },
  );
};
