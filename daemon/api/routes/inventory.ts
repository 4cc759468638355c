import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { sectionsOf } from '../../../inventory/diff.ts';
import { validateOffThread } from '../../inventory/offthread.ts';
import { appliedInventory, inventoryCounts, inventoryStatus, planInventory } from '../../inventory/apply.ts';
import { actorOf } from '../auth.ts';
import type { ApiDeps } from '../app.ts';
import { flagOn, InventoryDiffView, InventoryView, QueryFlag, SourceErrorView } from '../schemas.ts';

// A 10,000-machine inventory is ~3 MB of YAML; leave room above that.
const MAX_INVENTORY_BYTES = 32 * 1024 * 1024;

export const inventoryRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, { store, inventory }) => {
  app.get(
    '/inventory',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['inventory'],
        description: 'The last applied inventory and the last rejected edit, if the newest edit was rejected.',
        querystring: Type.Object({ document: QueryFlag('include the applied, normalised document') }),
        response: { 200: InventoryView },
      },
    },
    async (req) => {
      const s = inventoryStatus(store);
      // The whole document (every machine's spec parsed) only when asked for; counts are cheap.
      const doc = flagOn(req.query.document) ? appliedInventory(store) : undefined;
      const counts = doc ? Object.fromEntries(Object.entries(sectionsOf(doc)).map(([k, v]) => [k, v.length])) : inventoryCounts(store);
      return {
        file: s.file,
        hash: s.hash,
        appliedAt: s.appliedAt,
        counts: counts as { machines: number; profiles: number; bootNetworks: number; productionNetworks: number; clusters: number },
        lastError: s.lastError,
        lastErrorAt: s.lastErrorAt,
        ...(doc && { document: doc }),
      };
    },
  );

  app.post(
    '/inventory/reload',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['inventory'],
        description: 'Re-read the inventory file now (as on SIGHUP).',
        response: {
          200: Type.Object({ result: Type.Enum(['applied', 'unchanged', 'rejected']), errors: Type.Optional(Type.Array(SourceErrorView)), diff: Type.Optional(InventoryDiffView) }),
        },
      },
    },
    async (req) => {
      const r = await inventory.reload('api', actorOf(req));
      if (r.result === 'rejected') return { result: r.result, errors: r.errors };
      if (r.result === 'applied') return { result: r.result, diff: r.summary.diff };
      return { result: r.result };
    },
  );

  app.post(
    '/inventory/diff',
    {
      config: { role: 'viewer' },
      bodyLimit: MAX_INVENTORY_BYTES,
      schema: {
        tags: ['inventory'],
        description: 'What applying this inventory would change against the running daemon. Nothing is applied.',
        body: Type.Object({ file: Type.String({ default: 'inventory.yaml' }), content: Type.String() }),
        response: { 200: Type.Object({ valid: Type.Boolean(), errors: Type.Array(SourceErrorView), diff: Type.Optional(InventoryDiffView) }) },
      },
    },
    async (req) => {
      const loaded = await validateOffThread(req.body.file, req.body.content);
      if (!loaded.ok) return { valid: false, errors: loaded.errors };
      return { valid: true, errors: [], diff: planInventory(store, loaded.inventory).diff };
    },
  );
};
