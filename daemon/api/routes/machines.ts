import { createHash } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
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
};
