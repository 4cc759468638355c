import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ApiDeps } from '../app.ts';

export const healthRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, deps) => {
  app.get(
    '/healthz',
    { config: { public: true }, schema: { tags: ['health'], response: { 200: Type.Object({ status: Type.Literal('ok') }) } } },
    async () => ({ status: 'ok' as const }),
  );

  // Ready once the store is open; unready while shutting down, so a load balancer or
  // watchdog stops sending work before the servers close.
  app.get(
    '/readyz',
    {
      config: { public: true },
      schema: {
        tags: ['health'],
        response: {
          200: Type.Object({ status: Type.Literal('ready'), inventory: Type.Enum(['ok', 'error', 'none']) }),
          503: Type.Object({ status: Type.Literal('stopping') }),
        },
      },
    },
    async (_req, reply) => {
      if (deps.lifecycle.stopping || !deps.store.db.open) return reply.code(503).send({ status: 'stopping' as const });
      const row = deps.store.db.prepare('SELECT hash, last_error FROM inventory_state WHERE id = 1').get() as { hash: string | null; last_error: string | null };
      return { status: 'ready' as const, inventory: row.last_error ? ('error' as const) : row.hash ? ('ok' as const) : ('none' as const) };
    },
  );

  app.get('/metrics', { config: { public: true }, schema: { tags: ['health'], hide: true } }, async (_req, reply) => {
    reply.header('content-type', deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });
};
