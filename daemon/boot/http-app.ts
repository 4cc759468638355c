// The boot network's HTTP server: iPXE scripts, boot assets and the installers' phone-home.
// A fastify instance of its own, never the operator API's: the boot network is untrusted
// (any machine on it can ask anything), so it reaches only these three routes. Built here,
// listened on by main (config.boot.http.listen/port), driven by app.inject() in tests.
import { fileURLToPath } from 'node:url';
import Fastify, { LogController, type FastifyError } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { IronbayError } from '../errors.ts';
import type { Store } from '../store/db.ts';
import type { BootAssets } from './assets.ts';
import { DEFAULT_CACHE_BYTES, fileCache, type FileCache } from './file-cache.ts';
import { loadTemplates, type Templates } from './ipxe-script.ts';
import { assetRoutes } from './routes/assets.ts';
import { configRoutes } from './routes/config.ts';
import { reportRoutes } from './routes/report.ts';
import { scriptRoutes } from './routes/script.ts';
import { bootStageHealth } from './timeline.ts';

export const TEMPLATE_DIR = fileURLToPath(new URL('../../pxe-assets/templates', import.meta.url));

export interface BootAppOptions {
  config: Readonly<Config>;
  store: Store;
  log: Logger;
  assets: BootAssets;
  /** Base URL boot clients reach this server at, e.g. `http://198.51.100.1:8080`. */
  advertise: string;
  /** Default: pxe-assets/templates, read and checked once here. */
  templates?: Templates;
  /** How long a held machine waits before leaving network boot (tests shorten it). */
  holdSeconds?: number;
  /** Memory for hot assets (kernels, initrds); 0 streams everything from disk. Default 256 MiB. */
  assetCacheBytes?: number;
  /** Public keys every installed machine authorizes besides its profile's: the appliance's own, so runbooks reach it. */
  applianceKeys?: () => string[];
}

export interface BootAppDeps extends BootAppOptions {
  templates: Templates;
  cache: FileCache;
}

export type BootApp = Awaited<ReturnType<typeof buildBootApp>>;

export async function buildBootApp(opts: BootAppOptions) {
  const deps: BootAppDeps = { ...opts, templates: opts.templates ?? loadTemplates(TEMPLATE_DIR), cache: fileCache(opts.assetCacheBytes ?? DEFAULT_CACHE_BYTES) };
  const log = opts.log.child({ mod: 'boot-http' });
  const app = Fastify({
    loggerInstance: log,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    // An unknown field in a report is an error, not silently dropped.
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false } },
    // Scripts and reports are small; assets are streamed out, never read in.
    bodyLimit: 64 * 1024,
  }).withTypeProvider<TypeBoxTypeProvider>();

  bootStageHealth(opts.store, (err, lost) => log.error({ err, lost }, 'boot timeline stages could not be written'));

  app.setErrorHandler((err: FastifyError | IronbayError, req, reply) => {
    if (err instanceof IronbayError) {
      req.log.error({ err }, 'boot request failed');
      return reply.code(500).send({ code: err.code, message: err.message });
    }
    if (err.validation) return reply.code(400).send({ code: 'IB_ERR_BAD_REQUEST', message: err.message });
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status >= 500) req.log.error({ err }, 'boot request failed');
    return reply.code(status).send({ code: status >= 500 ? 'IB_ERR_INTERNAL' : 'IB_ERR_BAD_REQUEST', message: status >= 500 ? 'internal error' : err.message });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ code: 'IB_ERR_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]} on the boot network` }));
  app.addHook('onResponse', async (req, reply) => {
    req.log.debug({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime), from: req.ip }, 'boot request');
  });

  await app.register(scriptRoutes, deps);
  await app.register(assetRoutes, deps);
  await app.register(reportRoutes, deps);
  await app.register(configRoutes, deps);
  return app;
}
