import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ServerResponse } from 'node:http';
import { Type } from 'typebox';
import { listEvents, MAX_EVENT_PAGE, type EventFilter } from '../../store/events.ts';
import type { ApiDeps } from '../app.ts';
import { EventView, flagOn, QueryFlag } from '../schemas.ts';

const HEARTBEAT_MS = 15_000;

export const eventRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, { store }) => {
  const streams = new Set<ServerResponse>();
  // Followers are long-lived requests; end them before the server waits for connections to drain.
  app.addHook('preClose', async () => {
    for (const s of streams) s.end();
  });

  app.get(
    '/events',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['events'],
        description: 'The audit log, oldest first. With follow=1, a text/event-stream that sends matching events as they are committed.',
        querystring: Type.Object({
          machine: Type.Optional(Type.String()),
          kind: Type.Optional(Type.String({ description: 'an exact kind, or a prefix ending in "." (machine.)' })),
          actor: Type.Optional(Type.String()),
          after: Type.Optional(Type.Integer({ minimum: 0, description: 'only events with a greater id' })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_EVENT_PAGE })),
          follow: QueryFlag('stream events as they are committed (text/event-stream)'),
        }),
        response: { 200: Type.Object({ events: Type.Array(EventView) }) },
      },
    },
    async (req, reply) => {
      const { follow, ...q } = req.query;
      const filter: EventFilter = {
        ...(q.machine && { machine: q.machine }),
        ...(q.kind && { kind: q.kind }),
        ...(q.actor && { actor: q.actor }),
        ...(q.limit && { limit: q.limit }),
      };
      const resume = Number(req.headers['last-event-id']);
      const after = Number.isInteger(resume) && resume >= 0 ? resume : q.after;
      if (!flagOn(follow)) return { events: listEvents(store, { ...filter, ...(after !== undefined && { after }) }) };

      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      // Headers now, not with the first event: a client shows "live" as soon as it is.
      raw.flushHeaders();
      streams.add(raw);
      let last = after;
      // Each notification re-queries from the last id sent: ordering and filtering stay in
      // SQL, and nothing is lost between the backlog and the first live event.
      const flush = (): void => {
        const batch = listEvents(store, { ...filter, ...(last !== undefined && { after: last }), limit: MAX_EVENT_PAGE });
        for (const e of batch) {
          raw.write(`id: ${e.id}\ndata: ${JSON.stringify(e)}\n\n`);
          last = e.id;
        }
        if (last === undefined) last = (store.db.prepare('SELECT coalesce(max(id), 0) AS n FROM events').get() as { n: number }).n;
      };
      flush();
      const off = store.onEvent(() => {
        if (!raw.writableEnded) flush();
      });
      const beat = setInterval(() => raw.write(': keepalive\n\n'), HEARTBEAT_MS);
      raw.on('close', () => {
        off();
        clearInterval(beat);
        streams.delete(raw);
      });
    },
  );
};
