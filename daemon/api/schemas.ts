// Request and response schemas of the HTTP API; they validate, serialise and document it.
import { Type, type Static } from 'typebox';
import { MachineSchema } from '../../inventory/schema.ts';
import { MACHINE_STATES } from '../store/machines.ts';
import { ROLES } from '../store/tokens.ts';

export const ErrorBody = Type.Object({
  code: Type.String({ description: 'stable error code, e.g. IB_ERR_FORBIDDEN' }),
  message: Type.String(),
  details: Type.Optional(Type.Unknown()),
});
export type ErrorBody = Static<typeof ErrorBody>;

/** A yes/no query parameter as people and scripts write it: `?follow=1`, `?follow=true`. */
export const QueryFlag = (description?: string) => Type.Optional(Type.Enum(['1', 'true', '0', 'false'], description ? { description } : {}));
export const flagOn = (v: string | undefined): boolean => v === '1' || v === 'true';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const MachineView = Type.Object({
  name: Type.String(),
  role: Type.String(),
  zone: Nullable(Type.String()),
  profile: Nullable(Type.String()),
  macs: Type.Array(Type.String()),
  state: Type.Enum([...MACHINE_STATES]),
  stateReason: Nullable(Type.String()),
  stateSince: Type.String({ format: 'date-time' }),
  spec: MachineSchema,
  observed: Type.Record(Type.String(), Type.Unknown()),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  retiredAt: Nullable(Type.String({ format: 'date-time' })),
});
export type MachineView = Static<typeof MachineView>;

export const EventView = Type.Object({
  id: Type.Integer(),
  time: Type.String({ format: 'date-time' }),
  actor: Type.String(),
  machine: Nullable(Type.String()),
  kind: Type.String(),
  details: Type.Record(Type.String(), Type.Unknown()),
});

export const SourceErrorView = Type.Object({
  file: Type.String(),
  line: Type.Integer(),
  col: Type.Integer(),
  path: Type.String(),
  message: Type.String(),
});

const Counts = Type.Object({ added: Type.Integer(), changed: Type.Integer(), removed: Type.Integer() });
const SectionDiffView = Type.Object({
  added: Type.Array(Type.String()),
  removed: Type.Array(Type.String()),
  changed: Type.Array(
    Type.Object({
      name: Type.String(),
      fields: Type.Array(Type.Object({ path: Type.String(), from: Type.Optional(Type.Unknown()), to: Type.Optional(Type.Unknown()) })),
    }),
  ),
});
export const InventoryDiffView = Type.Object({
  machines: SectionDiffView,
  profiles: SectionDiffView,
  bootNetworks: SectionDiffView,
  productionNetworks: SectionDiffView,
  clusters: SectionDiffView,
});
export { Counts };

export const InventoryView = Type.Object({
  file: Nullable(Type.String()),
  hash: Nullable(Type.String()),
  appliedAt: Nullable(Type.String({ format: 'date-time' })),
  counts: Type.Object({
    machines: Type.Integer(),
    profiles: Type.Integer(),
    bootNetworks: Type.Integer(),
    productionNetworks: Type.Integer(),
    clusters: Type.Integer(),
  }),
  lastError: Nullable(Type.Array(SourceErrorView)),
  lastErrorAt: Nullable(Type.String({ format: 'date-time' })),
  document: Type.Optional(Type.Unknown()),
});

export const Role = Type.Enum([...ROLES]);

export const TokenView = Type.Object({
  name: Type.String(),
  role: Role,
  createdAt: Type.String(),
  createdBy: Type.String(),
  lastUsedAt: Nullable(Type.String()),
  revokedAt: Nullable(Type.String()),
});
