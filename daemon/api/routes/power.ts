// Power and boot-device actions on inventory machines through their BMCs: many machines per
// request, one result per machine (a failed BMC never fails the others).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import { POWER_ACTIONS, type MachineResult } from '../../bmc/service.ts';
import { machinesWithBmc } from '../../store/machines.ts';
import { selectMachines, type SelectionBody } from '../selection.ts';
import type { Store } from '../../store/db.ts';
import { actorOf } from '../auth.ts';
import type { ApiDeps } from '../app.ts';
import { ErrorBody } from '../schemas.ts';

const Selection = {
  machines: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 10000, description: 'machine names' })),
  role: Type.Optional(Type.String({ description: 'every machine of this role that has a BMC' })),
  all: Type.Optional(Type.Boolean({ description: 'every machine that has a BMC' })),
};

const BootView = Type.Object({
  device: Type.Enum(['pxe', 'disk', 'bios', 'none', 'other']),
  persistent: Type.Boolean(),
  efi: Type.Boolean(),
  raw: Type.Optional(Type.String()),
  warnings: Type.Optional(Type.Array(Type.String())),
});

export const MachineResultView = Type.Object({
  machine: Type.String(),
  ok: Type.Boolean(),
  changed: Type.Optional(Type.Boolean()),
  power: Type.Optional(Type.Enum(['on', 'off'])),
  faults: Type.Optional(Type.Array(Type.String())),
  boot: Type.Optional(BootView),
  probe: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  code: Type.Optional(Type.String({ description: 'IB_ERR_* code when ok is false' })),
  error: Type.Optional(Type.String()),
  durationMs: Type.Integer(),
});

const Results = Type.Object({ results: Type.Array(MachineResultView) });

function select(store: Store, s: SelectionBody): string[] {
  return selectMachines(store, s, {
    all: () => machinesWithBmc(store),
    role: (role) => machinesWithBmc(store, role),
    noMatch: (x) => (x.role && !x.machines?.length ? `no machine with role "${x.role}" has a BMC` : 'no machine has a BMC'),
    refuseUnknown: true,
  });
}

const view = (r: MachineResult): Static<typeof MachineResultView> => r as Static<typeof MachineResultView>;

export const powerRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, { store, bmc }) => {
  app.post(
    '/power',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['power'],
        description:
          'Power status or action through each machine\'s BMC. Actions are "ensure" operations: on for a machine already on changes nothing. on, cycle and reset are paced by bmc.powerOnRate. Every action (not status) is an event.',
        body: Type.Object(
          {
            action: Type.Enum([...POWER_ACTIONS]),
            pxe: Type.Optional(Type.Boolean({ description: 'on, cycle, reset: first set a one-time PXE boot (read back), as before a provisioning power-on' })),
            efi: Type.Optional(Type.Boolean({ description: 'with pxe: UEFI network boot' })),
            ...Selection,
          },
          { additionalProperties: false },
        ),
        response: { 200: Results, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (req) => {
      const names = select(store, req.body);
      const { action, pxe, efi } = req.body;
      return { results: (await bmc.power(names, action, actorOf(req), { ...(pxe !== undefined && { pxe }), ...(efi !== undefined && { efi }) })).map(view) };
    },
  );

  app.post(
    '/bootdev',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['power'],
        description: 'Set the next boot device (one-time unless persistent) and read it back; a BMC that does not apply it is reported per machine.',
        body: Type.Object(
          { device: Type.Enum(['pxe', 'disk', 'bios']), persistent: Type.Optional(Type.Boolean()), efi: Type.Optional(Type.Boolean()), ...Selection },
          { additionalProperties: false },
        ),
        response: { 200: Results, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (req) => {
      const names = select(store, req.body);
      const { device, persistent, efi } = req.body;
      const opts = { ...(persistent !== undefined && { persistent }), ...(efi !== undefined && { efi }) };
      return { results: (await bmc.bootDevice(names, device, opts, actorOf(req))).map(view) };
    },
  );

  app.post(
    '/machines/:name/bmc/probe',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['power'],
        description: "Learn what the machine's BMC supports (cipher suites, boot flags, reset types) and record it in the machine's observed state.",
        params: Type.Object({ name: Type.String() }),
        response: { 200: MachineResultView, 404: ErrorBody },
      },
    },
    async (req) => {
      select(store, { machines: [req.params.name] });
      return view(await bmc.probe(req.params.name, actorOf(req)));
    },
  );
};
