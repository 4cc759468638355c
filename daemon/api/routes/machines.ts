import { createHash } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { bootSession } from '../../boot/sessions.ts';
import { bootTimeline } from '../../boot/timeline.ts';
import { IronbayError } from '../../errors.ts';
import { getMachine, listMachinesJson, MACHINE_STATES, machinesVersion, type MachineRecord } from '../../store/machines.ts';
import type { ApiDeps } from '../app.ts';
import { ErrorBody, flagOn, MachineView, QueryFlag } from '../schemas.ts';

export function machineView(m: MachineRecord): MachineView {
  return {
    name: m.name,
    role: m.role,
    zone: m.zone,
    profile: m.profile,
    macs: m.spec.macs,
    state: m.state,
    stateReason: m.stateReason,
    stateSince: m.stateSince,
    spec: m.spec,
    observed: m.observed,
    createdAt: m.createdAt,
    updatedAt: m.updatedAt,
    retiredAt: m.retiredAt,
  };
}

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

/** A machine's last network boot: its session and every stage seen, oldest first. */
export const BootTimelineView = Type.Object({
  machine: Type.String(),
  bootId: Nullable(Type.Integer({ description: 'the boot (rendered iPXE script) the stages belong to' })),
  startedAt: Nullable(Type.String({ format: 'date-time', description: 'time of the first stage' })),
  session: Nullable(
    Type.Object({
      id: Type.Integer(),
      action: Type.String({ description: 'install, live, discovery, local-disk or hold' }),
      profile: Nullable(Type.String()),
      createdAt: Type.String({ format: 'date-time' }),
      endedAt: Nullable(Type.String({ format: 'date-time' })),
      endReason: Nullable(Type.String({ description: 'installed, failed or superseded' })),
    }),
  ),
  entries: Type.Array(
    Type.Object({
      stage: Type.String({ description: 'dhcp-discover, dhcp-offer, …, tftp, http, script, kernel, initrd, report' }),
      detail: Nullable(Type.String()),
      bootId: Nullable(Type.Integer()),
      at: Type.String({ format: 'date-time' }),
      offsetMs: Type.Integer({ description: 'milliseconds since the first stage' }),
    }),
  ),
  truncated: Type.Boolean({ description: 'the boot has more stages than are returned (the oldest are left out)' }),
});

// Lists are cached per filter and served with an ETag until any machine row changes
// (machinesVersion): building the body for 10,000 machines costs ~100 ms, and the fleet page
// and scripts poll it. A handful of filters is all that is ever in use at once.
const LIST_CACHE_ENTRIES = 8;

export const machineRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, { store }) => {
  const cache = new Map<string, { version: number; etag: string; body: Buffer }>();
  app.get(
    '/machines',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['machines'],
        querystring: Type.Object({
          state: Type.Optional(Type.Enum([...MACHINE_STATES])),
          role: Type.Optional(Type.String()),
          zone: Type.Optional(Type.String()),
          includeRetired: QueryFlag('include retired machines'),
        }),
        response: { 200: Type.Object({ machines: Type.Array(MachineView) }), 304: Type.Null({ description: 'unchanged since the ETag sent in If-None-Match' }) },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const filter = {
        ...(q.state && { state: q.state }),
        ...(q.role && { role: q.role }),
        ...(q.zone && { zone: q.zone }),
        ...(flagOn(q.includeRetired) && { includeRetired: true }),
      };
      const key = JSON.stringify(filter);
      const version = machinesVersion(store);
      let hit = cache.get(key);
      if (hit?.version !== version) {
        const body = listMachinesJson(store, filter);
        hit = { version, etag: `"m${version}-${createHash('sha1').update(key).digest('hex').slice(0, 8)}"`, body };
        cache.delete(key);
        cache.set(key, hit);
        if (cache.size > LIST_CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
      }
      reply.header('etag', hit.etag);
      if (req.headers['if-none-match'] === hit.etag) return reply.code(304).send(null);
      // Already JSON in the response schema's shape (see listMachinesJson). fastify sends a
      // Buffer as is; the type provider cannot know that, hence the cast.
      return reply.type('application/json; charset=utf-8').send(hit.body as unknown as { machines: MachineView[] });
    },
  );

  app.get(
    '/machines/:name',
    {
      config: { role: 'viewer' },
      schema: { tags: ['machines'], params: Type.Object({ name: Type.String() }), response: { 200: MachineView, 404: ErrorBody } },
    },
    async (req) => {
      const m = getMachine(store, req.params.name);
      if (!m) throw new IronbayError('IB_ERR_NOT_FOUND', `no machine named "${req.params.name}"`);
      return machineView(m);
    },
  );

  app.get(
    '/machines/:name/boot',
    {
      config: { role: 'viewer' },
      schema: { tags: ['machines'], params: Type.Object({ name: Type.String() }), response: { 200: BootTimelineView, 404: ErrorBody } },
    },
    async (req) => {
      const m = getMachine(store, req.params.name);
      if (!m) throw new IronbayError('IB_ERR_NOT_FOUND', `no machine named "${req.params.name}"`);
      const t = bootTimeline(store, m.id);
      return { machine: m.name, ...t, session: t.bootId === null ? null : (bootSession(store, t.bootId) ?? null) };
    },
  );
};
