import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { IronbayError } from '../../errors.ts';
import { getMachine, listMachinesJson, MACHINE_STATES, type MachineRecord } from '../../store/machines.ts';
import type { ApiDeps } from '../app.ts';
import { ErrorBody, MachineView } from '../schemas.ts';

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

export const machineRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, { store }) => {
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
          includeRetired: Type.Optional(Type.Boolean()),
        }),
        response: { 200: Type.Object({ machines: Type.Array(MachineView) }) },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const body = listMachinesJson(store, {
        ...(q.state && { state: q.state }),
        ...(q.role && { role: q.role }),
        ...(q.zone && { zone: q.zone }),
        ...(q.includeRetired && { includeRetired: true }),
      });
      // Already JSON in the response schema's shape (see listMachinesJson). fastify sends a
      // Buffer as is; the type provider cannot know that, hence the cast.
      return reply.type('application/json; charset=utf-8').send(Buffer.from(body) as unknown as { machines: MachineView[] });
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
