// Operator actions on the lifecycle: provision, deprovision, maintenance, retry. One result per
// machine; a machine in the wrong state is reported, never fails the others.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { selectMachines, type SelectionBody } from '../selection.ts';
import { MACHINE_STATES } from '../../store/machines.ts';
import { actorOf } from '../auth.ts';
import type { ApiDeps } from '../app.ts';
import { ErrorBody } from '../schemas.ts';
import type { Store } from '../../store/db.ts';

const ActionResultView = Type.Object({
  machine: Type.String(),
  ok: Type.Boolean(),
  state: Type.Optional(Type.Enum([...MACHINE_STATES])),
  result: Type.Optional(Type.String()),
  code: Type.Optional(Type.String()),
  error: Type.Optional(Type.String()),
});
const Results = Type.Object({ results: Type.Array(ActionResultView) });
const Selection = Type.Object(
  {
    machines: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 100000 })),
    role: Type.Optional(Type.String({ description: 'every live machine of this role' })),
    all: Type.Optional(Type.Boolean({ description: 'every machine that is registered (or failed)' })),
  },
  { additionalProperties: false },
);

function select(store: Store, s: SelectionBody): string[] {
  const q = (sql: string, ...args: string[]): string[] => store.db.prepare(sql).pluck().all(...args) as string[];
  return selectMachines(store, s, {
    all: () => q("SELECT name FROM machines WHERE state IN ('registered', 'failed') ORDER BY name"),
    role: (role) => q("SELECT name FROM machines WHERE role = ? AND state NOT IN ('retired', 'discovered') ORDER BY name", role),
    noMatch: () => 'no machine matches',
    refuseUnknown: false,
  });
}

export const lifecycleRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, { store, provisioning: lifecycle }) => {
  const opts = (description: string) => ({ config: { role: 'operator' as const }, schema: { tags: ['lifecycle'], description, body: Selection, response: { 200: Results, 400: ErrorBody } } });
  app.post('/provision', opts('Queue machines for provisioning (registered or failed ones); admission control starts them in order.'), async (req) => ({
    results: lifecycle.provision(select(store, req.body), actorOf(req)),
  }));
  app.post('/deprovision', opts('Ready machines are powered off and return to registered; failed ones return at once.'), async (req) => ({
    results: lifecycle.deprovision(select(store, req.body), actorOf(req)),
  }));
  const one = (description: string, extra: Record<string, ReturnType<typeof Type.Optional>> = {}) => ({
    config: { role: 'operator' as const },
    schema: { tags: ['lifecycle'], description, params: Type.Object({ name: Type.String() }), body: Type.Object(extra, { additionalProperties: false }), response: { 200: Results } },
  });
  app.post('/machines/:name/retry', one('A failed machine back to registered, queued for provisioning.'), async (req) => ({ results: lifecycle.retry([req.params.name], actorOf(req)) }));
  app.post(
    '/machines/:name/maintenance',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['lifecycle'],
        description: 'An operator hold (on) or its release (off): the reconciler leaves a machine in maintenance alone.',
        params: Type.Object({ name: Type.String() }),
        body: Type.Object({ on: Type.Boolean(), reason: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false }),
        response: { 200: Results },
      },
    },
    async (req) => ({ results: lifecycle.maintenance([req.params.name], req.body.on, actorOf(req), req.body.reason) }),
  );
};
