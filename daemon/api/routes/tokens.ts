import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { createToken, listTokens, revokeToken } from '../../store/tokens.ts';
import { actorOf } from '../auth.ts';
import type { ApiDeps } from '../app.ts';
import { ErrorBody, Role, TokenView } from '../schemas.ts';

export const tokenRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, { store }) => {
  app.get(
    '/tokens',
    { config: { role: 'admin' }, schema: { tags: ['tokens'], response: { 200: Type.Object({ tokens: Type.Array(TokenView) }) } } },
    async () => ({ tokens: listTokens(store) }),
  );

  app.post(
    '/tokens',
    {
      config: { role: 'admin' },
      schema: {
        tags: ['tokens'],
        description: 'Create a token. The token is in this response only; ironbay keeps its hash.',
        body: Type.Object({ name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$' }), role: Role }),
        response: { 201: Type.Object({ name: Type.String(), role: Role, token: Type.String() }), 409: ErrorBody },
      },
    },
    async (req, reply) => {
      const token = createToken(store, req.body.name, req.body.role, actorOf(req));
      return reply.code(201).send({ name: req.body.name, role: req.body.role, token });
    },
  );

  app.delete(
    '/tokens/:name',
    {
      config: { role: 'admin' },
      schema: { tags: ['tokens'], params: Type.Object({ name: Type.String() }), response: { 204: Type.Null(), 404: ErrorBody } },
    },
    async (req, reply) => {
      revokeToken(store, req.params.name, actorOf(req));
      return reply.code(204).send(null);
    },
  );
};
