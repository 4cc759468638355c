// kubeadm configuration for cluster VMs: v1beta3 up to 1.30 and v1beta4 from 1.31 (their
// kubeletExtraArgs differ: map vs list of {name, value}), init on control plane 0, control-plane
// join with the certificate key, plain join on workers, secrets checked, the CA pinned (the pin
// computed the way the kubeadm docs do it, with openssl), every document schema-checked and
// YAML that loads back to the same objects.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadAll } from 'js-yaml';
import type { Cluster } from '../../inventory/schema.ts';
import {
  caCertHashOf,
  checkKubeadmDocument,
  ClusterRenderError,
  kubeadmApiVersion,
  parseEndpoint,
  parseKubernetesVersion,
  renderKubeadm,
  type KubeadmInput,
} from '../../kvm/kubeadm.ts';

const cluster: Cluster = {
  name: 'c1',
  controlPlanes: 3,
  workers: 2,
  node: { vcpu: 2, memoryMiB: 4096, diskGiB: 20 },
  image: 'debian-12-k8s.qcow2',
  kubernetesVersion: '1.31.2',
  podCidr: '100.72.0.0/16',
  serviceCidr: '100.96.0.0/12',
};
const TOKEN = 'abcdef.0123456789abcdef';
const HASH = `sha256:${'0123456789abcdef'.repeat(4)}`;
const CERT_KEY = 'f'.repeat(64);

interface Over extends Partial<Omit<KubeadmInput, 'vm' | 'cluster'>> {
  vm?: Partial<KubeadmInput['vm']>;
  cluster?: Partial<Cluster>;
}

function input(over: Over = {}): KubeadmInput {
  return {
    endpoint: '100.96.0.10:6443',
    certSANs: ['203.0.113.7', 'c1.clusters.example.org'],
    ...over,
    cluster: { ...cluster, ...over.cluster },
    vm: { name: 'c1-cp-0', index: 0, role: 'control-plane', address: '100.96.0.10/24', ...over.vm },
    // Given secrets replace these whole: a test leaves one out by not listing it.
    secrets: over.secrets ?? { bootstrapToken: TOKEN, caCertHash: HASH, certificateKey: CERT_KEY },
  };
}

type Doc = Record<string, unknown> & { kind: string };
const byKind = (docs: Record<string, unknown>[], kind: string): Doc => {
  const d = docs.find((x) => x.kind === kind);
  assert.ok(d, `no ${kind}`);
  return d as Doc;
};

/** Asserts a ClusterRenderError whose message names the cluster, the VM and `reason`. */
function refuses(fn: () => unknown, reason: RegExp, vm = 'c1-cp-0'): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ClusterRenderError, String(err));
    assert.equal(err.code, 'IB_ERR_CLUSTER_RENDER');
    assert.equal(err.cluster, 'c1');
    assert.equal(err.vm, vm);
    assert.ok(err.message.startsWith(`cluster "c1" VM "${vm}": `), err.message);
    assert.match(err.message, reason);
    return true;
  });
}

describe('kubeadm API version', () => {
  test('versions parse with or without v and are normalised with one; the patch release is required', () => {
    assert.deepEqual(parseKubernetesVersion('1.31.2'), { major: 1, minor: 31, patch: 2, text: 'v1.31.2' });
    assert.equal(parseKubernetesVersion('v1.30.0')?.text, 'v1.30.0');
    for (const bad of ['1.31', 'v1.31.02', '1.31.2-rc.0', 'latest', '']) assert.equal(parseKubernetesVersion(bad), undefined, bad);
  });

  test('v1beta3 for 1.22–1.30, v1beta4 from 1.31, nothing before 1.22 or outside 1.x', () => {
    assert.equal(kubeadmApiVersion({ major: 1, minor: 21 }), undefined);
    assert.equal(kubeadmApiVersion({ major: 1, minor: 22 }), 'kubeadm.k8s.io/v1beta3');
    assert.equal(kubeadmApiVersion({ major: 1, minor: 30 }), 'kubeadm.k8s.io/v1beta3');
    assert.equal(kubeadmApiVersion({ major: 1, minor: 31 }), 'kubeadm.k8s.io/v1beta4');
    assert.equal(kubeadmApiVersion({ major: 1, minor: 34 }), 'kubeadm.k8s.io/v1beta4');
    assert.equal(kubeadmApiVersion({ major: 2, minor: 0 }), undefined);
  });

  test('1.30 renders v1beta3 (kubeletExtraArgs a map), 1.31 v1beta4 (a list of name/value)', () => {
    const v3 = renderKubeadm(input({ cluster: { kubernetesVersion: '1.30.5' } }));
    assert.equal(v3.apiVersion, 'kubeadm.k8s.io/v1beta3');
    for (const d of v3.documents) assert.equal(d.apiVersion, 'kubeadm.k8s.io/v1beta3');
    assert.deepEqual(byKind(v3.documents, 'InitConfiguration').nodeRegistration, { name: 'c1-cp-0', kubeletExtraArgs: { 'node-ip': '100.96.0.10' } });
    assert.equal(byKind(v3.documents, 'ClusterConfiguration').kubernetesVersion, 'v1.30.5');

    const v4 = renderKubeadm(input({ cluster: { kubernetesVersion: 'v1.31.2' } }));
    assert.equal(v4.apiVersion, 'kubeadm.k8s.io/v1beta4');
    assert.deepEqual(byKind(v4.documents, 'InitConfiguration').nodeRegistration, { name: 'c1-cp-0', kubeletExtraArgs: [{ name: 'node-ip', value: '100.96.0.10' }] });
    assert.equal(byKind(v4.documents, 'ClusterConfiguration').kubernetesVersion, 'v1.31.2');

    // The same difference on a join.
    const w3 = renderKubeadm(input({ cluster: { kubernetesVersion: '1.30.5' }, vm: { name: 'c1-w-0', role: 'worker', address: '100.96.0.13/24' } }));
    assert.deepEqual((byKind(w3.documents, 'JoinConfiguration').nodeRegistration as { kubeletExtraArgs: unknown }).kubeletExtraArgs, { 'node-ip': '100.96.0.13' });
  });

  test('versions before 1.22, without a patch release, or not 1.x are refused naming cluster and VM', () => {
    refuses(() => renderKubeadm(input({ cluster: { kubernetesVersion: '1.21.14' } })), /Kubernetes v1\.21\.14 is not supported.*1\.22/);
    refuses(() => renderKubeadm(input({ cluster: { kubernetesVersion: '1.31' } })), /"1\.31" is not a release like 1\.31\.2/);
    refuses(() => renderKubeadm(input({ cluster: { kubernetesVersion: '2.0.0' } })), /v2\.0\.0 is not supported/);
  });
});

describe('kubeadm init on control plane 0', () => {
  test('InitConfiguration and ClusterConfiguration with the cluster, endpoint, SANs, token and node IP', () => {
    const c = renderKubeadm(input());
    assert.equal(c.action, 'init');
    assert.deepEqual(c.documents.map((d) => d.kind), ['InitConfiguration', 'ClusterConfiguration']);
    const init = byKind(c.documents, 'InitConfiguration');
    assert.deepEqual(init.localAPIEndpoint, { advertiseAddress: '100.96.0.10', bindPort: 6443 });
    const [token] = init.bootstrapTokens as { token: string; usages: string[]; groups: string[]; ttl: string }[];
    assert.equal(token!.token, TOKEN);
    assert.deepEqual(token!.usages, ['signing', 'authentication']);
    assert.deepEqual(token!.groups, ['system:bootstrappers:kubeadm:default-node-token']);
    assert.equal(token!.ttl, '24h0m0s');
    const cc = byKind(c.documents, 'ClusterConfiguration');
    assert.equal(cc.clusterName, 'c1');
    assert.equal(cc.controlPlaneEndpoint, '100.96.0.10:6443');
    assert.deepEqual(cc.networking, { podSubnet: '100.72.0.0/16', serviceSubnet: '100.96.0.0/12' });
    assert.deepEqual(cc.apiServer, { certSANs: ['203.0.113.7', 'c1.clusters.example.org'] });
  });

  test('with 3 control planes init carries the certificate key and uploads the certificates; with 1 neither', () => {
    const ha = renderKubeadm(input());
    assert.equal(byKind(ha.documents, 'InitConfiguration').certificateKey, CERT_KEY);
    assert.equal(ha.uploadCerts, true);
    const single = renderKubeadm(input({ cluster: { controlPlanes: 1 }, secrets: { bootstrapToken: TOKEN } }));
    assert.equal(byKind(single.documents, 'InitConfiguration').certificateKey, undefined);
    assert.equal(single.uploadCerts, false);
  });

  test('without SANs there is no apiServer section (kubeadm adds the endpoint and node address itself)', () => {
    const c = renderKubeadm(input({ certSANs: [] }));
    assert.equal(byKind(c.documents, 'ClusterConfiguration').apiServer, undefined);
  });
});

describe('kubeadm join', () => {
  test("a 3-control-plane cluster's second control plane joins as a control plane with the certificate key", () => {
    const c = renderKubeadm(input({ vm: { name: 'c1-cp-1', index: 1, address: '100.96.0.11/24' } }));
    assert.equal(c.action, 'join-control-plane');
    assert.equal(c.uploadCerts, false);
    assert.deepEqual(c.documents, [
      {
        apiVersion: 'kubeadm.k8s.io/v1beta4',
        kind: 'JoinConfiguration',
        nodeRegistration: { name: 'c1-cp-1', kubeletExtraArgs: [{ name: 'node-ip', value: '100.96.0.11' }] },
        discovery: { bootstrapToken: { token: TOKEN, apiServerEndpoint: '100.96.0.10:6443', caCertHashes: [HASH] } },
        controlPlane: { localAPIEndpoint: { advertiseAddress: '100.96.0.11', bindPort: 6443 }, certificateKey: CERT_KEY },
      },
    ]);
  });

  test('a worker joins plainly: no controlPlane, the CA pinned, never unsafeSkipCAVerification', () => {
    const c = renderKubeadm(input({ vm: { name: 'c1-w-0', role: 'worker', index: 0, address: '100.96.0.13/24' } }));
    assert.equal(c.action, 'join');
    const join = byKind(c.documents, 'JoinConfiguration');
    assert.equal(join.controlPlane, undefined);
    assert.deepEqual(join.discovery, { bootstrapToken: { token: TOKEN, apiServerEndpoint: '100.96.0.10:6443', caCertHashes: [HASH] } });
    assert.ok(!c.yaml.includes('unsafeSkipCAVerification'));
  });

  test('an upper-case CA hash and certificate key are normalised to lower case', () => {
    const c = renderKubeadm(input({ vm: { name: 'c1-cp-2', index: 2, address: '100.96.0.12/24' }, secrets: { bootstrapToken: TOKEN, caCertHash: HASH.toUpperCase().replace('SHA256', 'sha256'), certificateKey: CERT_KEY.toUpperCase() } }));
    const join = byKind(c.documents, 'JoinConfiguration') as Doc & { discovery: { bootstrapToken: { caCertHashes: string[] } }; controlPlane: { certificateKey: string } };
    assert.deepEqual(join.discovery.bootstrapToken.caCertHashes, [HASH]);
    assert.equal(join.controlPlane.certificateKey, CERT_KEY);
  });
});

describe('refused input names the cluster and the VM', () => {
  const worker = { name: 'c1-w-0', role: 'worker' as const, index: 0, address: '100.96.0.13/24' };
  test('a bootstrap token not in kubeadm format', () => {
    for (const t of ['abcdef0123456789abcdef', 'ABCDEF.0123456789abcdef', 'abcde.0123456789abcdef', 'abcdef.0123456789abcde', 'abcdef.0123456789abcdef\n'])
      refuses(() => renderKubeadm(input({ vm: worker, secrets: { bootstrapToken: t, caCertHash: HASH } })), /bootstrap token is not in kubeadm's format/, 'c1-w-0');
  });
  test('a CA hash that is not sha256:<64 hex>, or none on a join', () => {
    for (const h of ['0123'.repeat(16), `sha1:${'0'.repeat(40)}`, `sha256:${'0'.repeat(63)}`, `sha256:${'g'.repeat(64)}`])
      refuses(() => renderKubeadm(input({ vm: worker, secrets: { bootstrapToken: TOKEN, caCertHash: h } })), /CA certificate hash is not sha256:<64 hex digits>/, 'c1-w-0');
    refuses(() => renderKubeadm(input({ vm: worker, secrets: { bootstrapToken: TOKEN } })), /joining needs the CA certificate hash/, 'c1-w-0');
  });
  test('a certificate key that is not 64 hex digits, or none on a 3-control-plane control plane', () => {
    refuses(() => renderKubeadm(input({ secrets: { bootstrapToken: TOKEN, certificateKey: 'f'.repeat(63) } })), /certificate key is not 64 hex digits/);
    refuses(() => renderKubeadm(input({ vm: { name: 'c1-cp-1', index: 1 }, secrets: { bootstrapToken: TOKEN, caCertHash: HASH } })), /3-control-plane cluster needs a certificate key/, 'c1-cp-1');
  });
  test('a control plane beyond the cluster, a bad address, endpoint, CIDR or SAN', () => {
    refuses(() => renderKubeadm(input({ cluster: { controlPlanes: 1 }, vm: { name: 'c1-cp-1', index: 1 } })), /control plane 1 does not exist: the cluster has 1/, 'c1-cp-1');
    refuses(() => renderKubeadm(input({ vm: { address: '100.96.0.10' } })), /address "100\.96\.0\.10" is not an address with a prefix/);
    refuses(() => renderKubeadm(input({ endpoint: '100.96.0.10' })), /endpoint "100\.96\.0\.10" is not host:port/);
    refuses(() => renderKubeadm(input({ cluster: { podCidr: '100.72.0.1/16' } })), /podCidr: "100\.72\.0\.1\/16" has host bits set/);
    refuses(() => renderKubeadm(input({ certSANs: ['bad name'] })), /SAN "bad name" is neither/);
  });
});

describe('endpoints', () => {
  test('host:port with an IPv4 address, a DNS name or a bracketed IPv6 address', () => {
    assert.deepEqual(parseEndpoint('100.96.0.10:6443'), { host: '100.96.0.10', port: 6443 });
    assert.deepEqual(parseEndpoint('api.c1.example.org:443'), { host: 'api.c1.example.org', port: 443 });
    assert.deepEqual(parseEndpoint('[2001:db8::10]:6443'), { host: '2001:db8::10', port: 6443 });
    for (const bad of ['100.96.0.10', '2001:db8::10:6443', '[100.96.0.10]:6443', 'a b:1', 'x:0', 'x:65536', 'x:06443', '*.example.org:6443'])
      assert.equal(parseEndpoint(bad), undefined, bad);
  });
});

describe('schemas and YAML', () => {
  test('every rendered document conforms to its schema and loads back from the YAML unchanged', () => {
    const cases = [
      input(),
      input({ cluster: { kubernetesVersion: '1.30.5' } }),
      input({ vm: { name: 'c1-cp-1', index: 1, address: '100.96.0.11/24' } }),
      input({ cluster: { kubernetesVersion: '1.22.0' }, vm: { name: 'c1-w-0', role: 'worker', address: '100.96.0.13/24' } }),
    ];
    for (const i of cases) {
      const c = renderKubeadm(i);
      for (const d of c.documents) assert.deepEqual(checkKubeadmDocument(d), []);
      assert.deepEqual(loadAll(c.yaml), c.documents);
    }
  });

  test('the schemas refuse fields ironbay does not emit and the other version’s argument shape', () => {
    const join = renderKubeadm(input({ vm: { name: 'c1-w-0', role: 'worker', address: '100.96.0.13/24' } })).documents[0]!;
    const unsafe = structuredClone(join) as { discovery: { bootstrapToken: Record<string, unknown> } };
    unsafe.discovery.bootstrapToken.unsafeSkipCAVerification = true;
    assert.deepEqual(checkKubeadmDocument(unsafe as Record<string, unknown>).map((i) => i.path.join('.')), ['discovery.bootstrapToken.unsafeSkipCAVerification']);
    const unpinned = structuredClone(join) as { discovery: { bootstrapToken: Record<string, unknown> } };
    unpinned.discovery.bootstrapToken.caCertHashes = [];
    assert.equal(checkKubeadmDocument(unpinned as Record<string, unknown>).length, 1);

    const init = renderKubeadm(input({ cluster: { kubernetesVersion: '1.30.5' } })).documents[0]!;
    const listArgs = structuredClone(init) as { nodeRegistration: Record<string, unknown> };
    listArgs.nodeRegistration.kubeletExtraArgs = [{ name: 'node-ip', value: '100.96.0.10' }];
    assert.ok(checkKubeadmDocument(listArgs).length > 0, 'v1beta3 takes a map, not a list');
    assert.ok(checkKubeadmDocument({ ...init, apiVersion: 'kubeadm.k8s.io/v1beta2' }).length > 0);
  });
});

describe('CA pin', () => {
  let dir = '';
  let certPem = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ironbay-kubeadm-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt'), '-subj', '/CN=kubernetes', '-days', '1'], { stdio: 'ignore' });
    certPem = readFileSync(join(dir, 'ca.crt'), 'utf8');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("caCertHashOf equals the kubeadm docs' openssl recipe", () => {
    // openssl x509 -pubkey -in ca.crt | openssl rsa -pubin -outform der | openssl dgst -sha256 -hex
    const pub = execFileSync('openssl', ['x509', '-pubkey', '-noout', '-in', join(dir, 'ca.crt')]);
    const der = execFileSync('openssl', ['rsa', '-pubin', '-outform', 'der'], { input: pub, stdio: ['pipe', 'pipe', 'ignore'] });
    const hex = execFileSync('openssl', ['dgst', '-sha256', '-hex'], { input: der, encoding: 'utf8' }).trim().split(' ').pop();
    assert.equal(caCertHashOf(certPem), `sha256:${hex}`);
  });

  test('on control plane 0 a CA hash that does not match the CA certificate is refused', () => {
    const ca = { certPem, keyPem: '' };
    assert.equal(renderKubeadm(input({ secrets: { bootstrapToken: TOKEN, certificateKey: CERT_KEY, caCertHash: caCertHashOf(certPem), ca } })).action, 'init');
    refuses(() => renderKubeadm(input({ secrets: { bootstrapToken: TOKEN, certificateKey: CERT_KEY, caCertHash: HASH, ca } })), /CA certificate hash does not match the CA certificate/);
    refuses(() => renderKubeadm(input({ secrets: { bootstrapToken: TOKEN, certificateKey: CERT_KEY, caCertHash: HASH, ca: { certPem: 'not a cert', keyPem: '' } } })), /not a PEM certificate/);
  });
});
