// Workload clusters over the API: list, show (VMs, hosts, endpoints and their health), create
// and scale (each with a dry run that answers with the placement), delete, kubeconfig, and a
// reconcile pass on demand.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ClusterSchema } from '../../../inventory/schema.ts';
import { IronbayError } from '../../errors.ts';
import { formatCidr, parseCidr } from '../../lib/net.ts';
import { actorOf } from '../auth.ts';
import type { ApiDeps } from '../app.ts';
import { ErrorBody } from '../schemas.ts';

const Name = Type.Object({ name: Type.String({ pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' }) });
const DryRun = Type.Object({ dryRun: Type.Optional(Type.Boolean({ description: 'answer with the placement and allocation; change nothing' })) });

/** The inventory's checks that the schema alone cannot make: CIDRs canonical, service and pod networks apart. */
function checkCidrs(spec: { podCidr: string; serviceCidr: string; subnet?: string | undefined; calico?: { ipPool?: string | undefined } | undefined }): void {
  const fields: [string, string | undefined][] = [
    ['podCidr', spec.podCidr],
    ['serviceCidr', spec.serviceCidr],
    ['subnet', spec.subnet],
    ['calico.ipPool', spec.calico?.ipPool],
  ];
  for (const [k, v] of fields) {
    if (v === undefined) continue;
    const c = parseCidr(v);
    if (!c.ok) throw new IronbayError('IB_ERR_BAD_REQUEST', `${k} ${v}: ${c.reason}`);
    if (formatCidr(c.cidr) !== v) throw new IronbayError('IB_ERR_BAD_REQUEST', `${k} ${v}: write it as ${formatCidr(c.cidr)}`);
    if (k === 'subnet' && (c.cidr.family !== 4 || c.cidr.prefix > 28)) throw new IronbayError('IB_ERR_BAD_REQUEST', `subnet ${v} must be IPv4 and /28 or larger`);
  }
}

export const clusterRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, { clusters }) => {
  app.get('/clusters', { config: { role: 'viewer' }, schema: { tags: ['clusters'], description: 'Every workload cluster with its VM counts and endpoints.' } }, async () => ({ clusters: clusters.list() }));

  app.get('/clusters/:name', { config: { role: 'viewer' }, schema: { tags: ['clusters'], params: Name, response: { 200: Type.Unknown(), 404: ErrorBody } } }, async (req) => clusters.show(req.params.name));

  app.post(
    '/clusters',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['clusters'],
        description: 'Create a cluster (201), or with ?dryRun=true only its placement (200). A cluster that does not fit is refused (409) with the shortfall.',
        body: ClusterSchema,
        querystring: DryRun,
        response: { 200: Type.Unknown(), 201: Type.Unknown(), 400: ErrorBody, 409: ErrorBody },
      },
    },
    async (req, reply) => {
      checkCidrs(req.body);
      const plan = await clusters.create(req.body, { actor: actorOf(req), dryRun: req.query.dryRun ?? false });
      return reply.code(req.query.dryRun ? 200 : 201).send({ dryRun: req.query.dryRun ?? false, plan });
    },
  );

  app.post(
    '/clusters/:name/scale',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['clusters'],
        description: 'Set the worker count. Workers leaving are drained first (bounded by clusters.drainTimeoutS), then shut down and removed.',
        params: Name,
        querystring: DryRun,
        body: Type.Object({ workers: Type.Integer({ minimum: 0, maximum: 500 }) }, { additionalProperties: false }),
        response: { 200: Type.Unknown(), 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (req) => ({ dryRun: req.query.dryRun ?? false, plan: await clusters.scale(req.params.name, req.body.workers, { actor: actorOf(req), dryRun: req.query.dryRun ?? false }) }),
  );

  app.delete(
    '/clusters/:name',
    { config: { role: 'operator' }, schema: { tags: ['clusters'], description: 'Delete: every VM shut down and removed with its disks, then the networks on every host; the VNI and subnet are released.', params: Name, response: { 202: Type.Unknown(), 404: ErrorBody, 409: ErrorBody } } },
    async (req, reply) => {
      clusters.remove(req.params.name, actorOf(req));
      return reply.code(202).send({ name: req.params.name, state: 'deleting' });
    },
  );

  app.get(
    '/clusters/:name/kubeconfig',
    { config: { role: 'admin' }, schema: { tags: ['clusters'], description: 'An admin kubeconfig for the cluster, pointing at its API endpoint on the appliance (a fresh client certificate each time).', params: Name, response: { 200: Type.Unknown(), 404: ErrorBody } } },
    async (req, reply) => reply.type('application/yaml').send(await clusters.kubeconfigOf(req.params.name)),
  );

  app.post('/clusters/reconcile', { config: { role: 'operator' }, schema: { tags: ['clusters'], description: 'Run a reconcile pass over every kvm-host now and answer with what it did.' } }, async () => clusters.reconcile());
};
