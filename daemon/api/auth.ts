// Bearer-token authentication and role checks. Every route declares the role it needs in
// its config (`{ role: 'viewer' }`) or `{ public: true }`; a route that declares neither is
// refused, so forgetting the declaration fails closed.
import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import { IronbayError } from '../errors.ts';
import type { Store } from '../store/db.ts';
import { authenticate, roleAllows, type Role } from '../store/tokens.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    role?: Role;
    public?: boolean;
  }
  interface FastifyRequest {
    principal?: { name: string; role: Role };
  }
}

/** Who an event is attributed to: `token:NAME`. */
export function actorOf(req: FastifyRequest): string {
  return req.principal ? `token:${req.principal.name}` : 'anonymous';
}

export const authPlugin = fp<{ store: Store }>(async (app, { store }) => {
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', async (req) => {
    const cfg = req.routeOptions.config;
    // Unmatched routes fall through to the JSON 404 handler.
    if (cfg.public || req.routeOptions.url === undefined) return;
    const header = req.headers.authorization;
    const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!m) throw new IronbayError('IB_ERR_AUTH_MISSING', 'send "Authorization: Bearer <token>"; create tokens with `ironbay token create`');
    const who = authenticate(store, m[1]!);
    if (!who) throw new IronbayError('IB_ERR_AUTH_INVALID', 'the bearer token is unknown or revoked');
    req.principal = who;
    const need = cfg.role;
    if (!need) throw new IronbayError('IB_ERR_FORBIDDEN', `route ${req.routeOptions.url} declares no role`);
    if (!roleAllows(who.role, need)) {
      throw new IronbayError('IB_ERR_FORBIDDEN', `token "${who.name}" has role ${who.role}; ${req.method} ${req.routeOptions.url} needs ${need}`);
    }
  });
});
