// The HTTP API, built separately from listening so tests drive it with app.inject().
import Fastify, { LogController, type FastifyError } from 'fastify';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from 'pino';
import { ErrorCodes, IronbayError, type ErrorCode } from '../errors.ts';
import type { Config } from '../config/schema.ts';
import type { InventoryService } from '../inventory/service.ts';
import type { Metrics } from '../metrics.ts';
import type { Store } from '../store/db.ts';
import { authPlugin } from './auth.ts';
import { configRoutes } from './routes/config.ts';
import { eventRoutes } from './routes/events.ts';
import { healthRoutes } from './routes/health.ts';
import { inventoryRoutes } from './routes/inventory.ts';
import { machineRoutes } from './routes/machines.ts';
import { powerRoutes } from './routes/power.ts';
import type { BmcService } from '../bmc/service.ts';
import type { LifecycleService } from '../lifecycle/service.ts';
import { lifecycleRoutes } from './routes/lifecycle.ts';
import { tokenRoutes } from './routes/tokens.ts';
import { webRoutes } from '../web/routes.ts';
import { runbookRoutes } from './routes/runbooks.ts';
import { clusterRoutes } from './routes/clusters.ts';
import type { ClusterService } from '../clusters/service.ts';
import type { RunbookService } from '../ssh/service.ts';

export interface ApiDeps {
  config: Readonly<Config>;
  store: Store;
  metrics: Metrics;
  inventory: InventoryService;
  /** BMC operations on inventory machines (power, boot device, probe). */
  bmc: BmcService;
  /** Operator actions on the machine lifecycle (provision, deprovision, maintenance, retry). */
  provisioning: LifecycleService;
  /** SSH runbooks: catalogue, runs, host keys. */
  runbooks: RunbookService;
  /** Workload clusters: desired state, reconciler, endpoints. */
  clusters: ClusterService;
  log: Logger;
  /** Set when shutdown begins; /readyz turns 503. */
  lifecycle: { stopping: boolean };
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  IB_ERR_AUTH_MISSING: 401,
  IB_ERR_AUTH_INVALID: 401,
  IB_ERR_FORBIDDEN: 403,
  IB_ERR_NOT_FOUND: 404,
  IB_ERR_CONFLICT: 409,
  IB_ERR_BAD_REQUEST: 400,
  IB_ERR_INVENTORY_INVALID: 422,
  IB_ERR_RUNBOOK_INVALID: 422,
  IB_ERR_RUNBOOK_PARAMS: 400,
  IB_ERR_CLUSTER_NO_FIT: 409,
  IB_ERR_CLUSTER_EXHAUSTED: 409,
};

export type App = Awaited<ReturnType<typeof buildApp>>;

export async function buildApp(deps: ApiDeps) {
  const app = Fastify({
    loggerInstance: deps.log.child({ mod: 'api' }),
    // Requests are logged once, at debug, by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    // The inventory's schemas carry ajv-errors' errorMessage for the file's messages; here it is only a known word.
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, keywords: ['errorMessage'] } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'ironbay API', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });

  app.setErrorHandler((err: FastifyError | IronbayError, req, reply) => {
    if (err instanceof IronbayError) {
      const status = STATUS[err.code] ?? 500;
      if (status >= 500) req.log.error({ err }, 'request failed');
      return reply.code(status).send({ code: err.code, message: err.message, ...(err.details && { details: err.details }) });
    }
    if (err.validation) return reply.code(400).send({ code: 'IB_ERR_BAD_REQUEST', message: err.message });
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status >= 500) req.log.error({ err }, 'request failed');
    return reply.code(status).send({ code: status >= 500 ? 'IB_ERR_INTERNAL' : 'IB_ERR_BAD_REQUEST', message: status >= 500 ? ErrorCodes.IB_ERR_INTERNAL : err.message });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ code: 'IB_ERR_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` }),
  );

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    deps.metrics.httpRequests.inc({ method: req.method, route, status: String(reply.statusCode) });
    deps.metrics.httpDuration.observe({ route }, reply.elapsedTime / 1000);
    req.log.debug({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime), who: req.principal?.name }, 'request');
  });

  await app.register(authPlugin, { store: deps.store });
  await app.register(healthRoutes, deps);
  await app.register(webRoutes);
  await app.register(
    async (v1) => {
      await v1.register(machineRoutes, deps);
      await v1.register(powerRoutes, deps);
      await v1.register(lifecycleRoutes, deps);
      await v1.register(eventRoutes, deps);
      await v1.register(inventoryRoutes, deps);
      await v1.register(tokenRoutes, deps);
      await v1.register(runbookRoutes, deps);
      await v1.register(clusterRoutes, deps);
      await v1.register(configRoutes, deps);
      v1.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
    },
    { prefix: '/api/v1' },
  );
  return app;
}
