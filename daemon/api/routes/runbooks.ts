// Runbooks over the API: the catalogue, dry runs, runs (started, listed, shown, followed live
// as NDJSON, cancelled), the pinned SSH host keys and the appliance's public key.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ServerResponse } from 'node:http';
import { Type } from 'typebox';
import { IronbayError } from '../../errors.ts';
import { acceptHostKey, forgetHostKey, listHostKeys } from '../../ssh/hostkeys.ts';
import type { RunEvent } from '../../ssh/runbook/runner.ts';
import { actorOf } from '../auth.ts';
import type { ApiDeps } from '../app.ts';
import { ErrorBody } from '../schemas.ts';

const HEARTBEAT_MS = 15_000;

const Target = Type.Object(
  {
    names: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    roles: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    zones: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
    states: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  },
  { additionalProperties: false, description: "replaces the runbook's own target; machines named are taken in any state" },
);

const RunBody = Type.Object(
  {
    params: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]))),
    target: Type.Optional(Target),
    parallel: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096, description: 'machines at once (default 10)' })),
    rolling: Type.Optional(Type.Boolean({ description: 'one machine at a time, stopping at the first failure' })),
    stopOnFailure: Type.Optional(Type.Boolean({ description: 'start no further machine once one failed' })),
    dryRun: Type.Optional(Type.Boolean({ description: 'answer with what would run where, run nothing' })),
  },
  { additionalProperties: false },
);

const RunId = Type.Object({ id: Type.Integer({ minimum: 1 }) });

export const runbookRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, { store, runbooks }) => {
  const streams = new Set<ServerResponse>();
  app.addHook('onClose', async () => {
    for (const s of streams) s.end();
  });

  app.get('/runbooks', { config: { role: 'viewer' }, schema: { tags: ['runbooks'], description: 'Built-in runbooks and those in the configured folder; invalid files listed with their errors.' } }, async () => ({
    runbooks: runbooks.catalog(),
  }));

  app.get(
    '/runbooks/:name',
    { config: { role: 'viewer' }, schema: { tags: ['runbooks'], params: Type.Object({ name: Type.String() }), response: { 200: Type.Unknown(), 404: ErrorBody, 422: ErrorBody } } },
    async (req) => {
      const l = runbooks.load(req.params.name);
      return { source: l.source, digest: l.digest, runbook: l.runbook };
    },
  );

  app.post(
    '/runbooks/:name/runs',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['runbooks'],
        description: 'Start a run (202 with its id), or with dryRun the plan: each machine and the exact commands it would get.',
        params: Type.Object({ name: Type.String() }),
        body: RunBody,
        response: { 200: Type.Unknown(), 202: Type.Unknown(), 400: ErrorBody, 404: ErrorBody, 422: ErrorBody },
      },
    },
    async (req, reply) => {
      const { dryRun, ...rest } = req.body;
      const request = { runbook: req.params.name, ...rest };
      if (dryRun) {
        const { loaded: _l, values: _v, targets: _t, ...plan } = runbooks.plan(request);
        return { dryRun: true, plan };
      }
      const { id, plan } = runbooks.start(request, actorOf(req));
      return reply.code(202).send({ id, plan });
    },
  );

  app.get(
    '/runs',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['runbooks'],
        querystring: Type.Object({ runbook: Type.Optional(Type.String()), state: Type.Optional(Type.String()), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }),
      },
    },
    async (req) => ({ runs: runbooks.runs.list(req.query) }),
  );

  app.get(
    '/runs/:id',
    {
      config: { role: 'viewer' },
      schema: { tags: ['runbooks'], description: 'A run with its machines and steps, output included (size-capped).', params: RunId, querystring: Type.Object({ machine: Type.Optional(Type.String()) }), response: { 200: Type.Unknown(), 404: ErrorBody } },
    },
    async (req) => {
      const r = runbooks.runs.get(req.params.id, req.query.machine);
      if (!r) throw new IronbayError('IB_ERR_NOT_FOUND', `no run ${req.params.id}`);
      return { ...r, active: runbooks.isActive(r.id) };
    },
  );

  app.get(
    '/runs/:id/follow',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['runbooks'],
        description: 'The run as it happens, one JSON event per line (application/x-ndjson), from its start; ends with a run-end event. A run that has ended gives its run-end at once.',
        params: RunId,
        response: { 200: Type.Unknown(), 404: ErrorBody },
      },
    },
    async (req, reply) => {
      const r = runbooks.runs.summaryOf(req.params.id);
      if (!r) throw new IronbayError('IB_ERR_NOT_FOUND', `no run ${req.params.id}`);
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' });
      raw.flushHeaders();
      const send = (e: RunEvent): void => {
        if (raw.writableEnded) return;
        raw.write(JSON.stringify(e) + '\n');
        if (e.type === 'run-end') raw.end();
      };
      const off = runbooks.follow(r.id, send);
      if (!off) {
        // Ended before the follower came: its summary from the store.
        const done = runbooks.runs.summaryOf(r.id) ?? r;
        send({ type: 'run-end', state: done.state === 'running' ? 'interrupted' : done.state, error: done.error, counts: done.machines });
        return;
      }
      // A run that had just ended was replayed whole, its run-end included.
      if (raw.writableEnded) return;
      streams.add(raw);
      const beat = setInterval(() => raw.write('\n'), HEARTBEAT_MS);
      raw.on('close', () => {
        off();
        clearInterval(beat);
        streams.delete(raw);
      });
    },
  );

  app.post(
    '/runs/:id/cancel',
    {
      config: { role: 'operator' },
      schema: { tags: ['runbooks'], description: "Signals every remote command of the run and waits for the run's end.", params: RunId, response: { 200: Type.Unknown(), 404: ErrorBody, 409: ErrorBody } },
    },
    async (req) => {
      const r = runbooks.runs.summaryOf(req.params.id);
      if (!r) throw new IronbayError('IB_ERR_NOT_FOUND', `no run ${req.params.id}`);
      const outcome = await runbooks.cancel(r.id, actorOf(req));
      if (outcome === 'not-running') throw new IronbayError('IB_ERR_CONFLICT', `run ${r.id} is not running (it is ${r.state})`);
      return { id: r.id, state: runbooks.runs.summaryOf(r.id)?.state };
    },
  );

  app.get('/ssh/key', { config: { role: 'viewer' }, schema: { tags: ['ssh'], description: "The appliance's public key: put it in authorized_keys on machines runbooks reach." } }, async () => {
    const k = runbooks.publicKey();
    return { publicKey: k.publicKey, fingerprint: k.fingerprint, file: k.file };
  });

  app.get('/ssh/hosts', { config: { role: 'viewer' }, schema: { tags: ['ssh'], description: 'Pinned host keys, with any refused (pending) key.' } }, async () => ({ hosts: listHostKeys(store) }));

  const HostParams = Type.Object({ name: Type.String() });
  const HostQuery = Type.Object({ jump: Type.Optional(Type.Boolean({ description: 'a jump host from the configuration, not a machine' })) });
  app.post(
    '/ssh/hosts/:name/accept',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['ssh'],
        description: 'Pin the key the host presented and was refused for. With fingerprint, only if it is that key.',
        params: HostParams,
        querystring: HostQuery,
        body: Type.Object({ fingerprint: Type.Optional(Type.String({ pattern: '^SHA256:[A-Za-z0-9+/]{43}$' })) }, { additionalProperties: false }),
        response: { 200: Type.Unknown(), 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (req) => {
      const kind = req.query.jump ? 'jump' : 'machine';
      const r = acceptHostKey(store, kind, req.params.name, actorOf(req), req.body.fingerprint);
      if (r.outcome === 'not-pinned') throw new IronbayError('IB_ERR_NOT_FOUND', `no host key is pinned for ${kind} ${req.params.name}: the first connection will pin one`);
      if (r.outcome === 'mismatch') throw new IronbayError('IB_ERR_CONFLICT', `${req.params.name} presented ${r.pending}, not the fingerprint given; nothing accepted`);
      return { host: req.params.name, kind, ...r };
    },
  );
  app.delete(
    '/ssh/hosts/:name',
    { config: { role: 'operator' }, schema: { tags: ['ssh'], description: 'Forget a pin: the next connection pins whatever key the host presents.', params: HostParams, querystring: HostQuery, response: { 200: Type.Unknown(), 404: ErrorBody } } },
    async (req) => {
      const kind = req.query.jump ? 'jump' : 'machine';
      if (!forgetHostKey(store, kind, req.params.name, actorOf(req), 'forgotten by an operator')) throw new IronbayError('IB_ERR_NOT_FOUND', `no host key is pinned for ${kind} ${req.params.name}`);
      return { host: req.params.name, kind, forgotten: true };
    },
  );
};
