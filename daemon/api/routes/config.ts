import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ConfigSchema } from '../../config/schema.ts';
import type { ApiDeps } from '../app.ts';

/** The effective configuration, defaults filled in: the same schema that validates the file. */
export const configRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, { config }) => {
  app.get('/config', { config: { role: 'viewer' }, schema: { tags: ['config'], response: { 200: ConfigSchema } } }, async () => config);
};
