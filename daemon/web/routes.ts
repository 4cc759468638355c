// The fleet page: static files from this folder at `/` and `/web/*`, and `/web/whoami` (who
// the page's token belongs to, for showing the role and hiding the buttons it may not use).
//
// The files need no token: the page holds none until the operator types one in, and then
// sends it as `Authorization: Bearer` on its API calls (never in a URL or a cookie, so no
// CSRF and nothing in logs). They are read once, when the plugin is registered, and served
// from memory with a strong ETag; `no-cache` makes browsers revalidate (304) on every load,
// since the names carry no content hash. The Content-Security-Policy allows scripts and
// styles from this origin only: no inline script or style, no eval, no framing.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import { IronbayError } from '../errors.ts';
import { ErrorBody, Role } from '../api/schemas.ts';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  // The login form is handled by script; with the policy the browser never submits it (and
  // so never puts the token in a URL) even if the script failed to load.
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** Every servable file of `dir` (by extension; routes.ts itself is not one), keyed by name. */
export async function loadAssets(dir: string): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  for (const name of (await readdir(dir)).sort()) {
    const type = CONTENT_TYPES[extname(name)];
    if (!type) continue;
    const body = await readFile(join(dir, name));
    assets.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  if (!assets.has('index.html')) throw new Error(`fleet page: no index.html in ${dir}`);
  return assets;
}

export const WEB_DIR = fileURLToPath(new URL('.', import.meta.url));

export const webRoutes: FastifyPluginAsyncTypebox<{ dir?: string }> = async (app, opts) => {
  const assets = await loadAssets(opts.dir ?? WEB_DIR);

  const serve = (name: string, ifNoneMatch: string | undefined, reply: FastifyReply) => {
    const a = assets.get(name);
    if (!a) throw new IronbayError('IB_ERR_NOT_FOUND', `no file /web/${name}`);
    reply.headers({ ...SECURITY_HEADERS, etag: a.etag, 'cache-control': 'no-cache' });
    if (ifNoneMatch === a.etag) return reply.code(304).send();
    return reply.type(a.type).send(a.body);
  };

  app.get('/', { config: { public: true }, schema: { hide: true } }, async (req, reply) => serve('index.html', req.headers['if-none-match'], reply));

  app.get(
    '/web/*',
    { config: { public: true }, schema: { hide: true, params: Type.Object({ '*': Type.String() }) } },
    async (req, reply) => serve(req.params['*'], req.headers['if-none-match'], reply),
  );

  app.get(
    '/web/whoami',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['web'],
        description: "The token's name and role (the fleet page shows them and hides actions the role may not take).",
        response: { 200: Type.Object({ name: Type.String(), role: Role }), 401: ErrorBody },
      },
    },
    async (req, reply) => {
      reply.header('cache-control', 'no-store');
      return { name: req.principal!.name, role: req.principal!.role };
    },
  );
};
