// The inventory file's shape. Reference documentation: inventory/README.md — keep both in step.
// Semantic rules that span entries (duplicates, subnets, references) live in validate.ts.
import { Type, type Static } from 'typebox';

const name = (what: string) =>
  Type.String({
    pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$',
    errorMessage: `${what} must be a DNS label: lower-case letters, digits and '-', 1-63 characters, not starting or ending with '-'`,
  });

const text = Type.String({ minLength: 1 });

export const BmcSchema = Type.Object(
  {
    driver: Type.Enum(['ipmi', 'redfish']),
    address: Type.String({ minLength: 1, description: 'IP address or host name of the BMC' }),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    username: text,
    passwordFile: Type.Optional(text),
    passwordEnv: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', errorMessage: 'must be an environment variable name' })),
    // Declared so that an inline secret is caught by a cross-check with a precise message
    // instead of a generic "unknown field".
    // `deprecated` keeps it out of "did you mean" suggestions (schema-check.ts) and marks it in OpenAPI.
    password: Type.Optional(Type.Unknown({ deprecated: true, description: 'never accepted: use passwordFile or passwordEnv' })),
    cipherSuite: Type.Optional(Type.Integer({ minimum: 0, maximum: 17 })),
    allowCipherSuiteZero: Type.Optional(Type.Boolean()),
    insecureTls: Type.Optional(Type.Boolean()),
    tlsFingerprint: Type.Optional(
      Type.String({
        pattern: '^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f]{64}$',
        errorMessage: 'must be a SHA-256 fingerprint: 64 hex digits, with or without ":" between bytes',
      }),
    ),
  },
  { additionalProperties: false },
);

export const ProductionSchema = Type.Object(
  {
    address: Type.String({ description: 'address/prefix on the production network, e.g. 203.0.113.5/24' }),
    gateway: Type.Optional(Type.String()),
    vlan: Type.Optional(Type.Integer({ minimum: 1, maximum: 4094 })),
    dns: Type.Optional(Type.Array(Type.String())),
    interface: Type.Optional(text),
  },
  { additionalProperties: false },
);

export const MachineSshSchema = Type.Object(
  {
    user: Type.Optional(Type.String({ pattern: '^[a-z_][a-z0-9_.-]{0,31}$', errorMessage: 'must be a login name', description: "login for runbooks; default: the configuration's ssh.user" })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: "default: the configuration's ssh.port" })),
    jump: Type.Optional(
      Type.String({ minLength: 1, description: "a jump host from the configuration's ssh.jumpHosts, for a machine the appliance cannot reach directly; 'none' overrides a default" }),
    ),
  },
  { additionalProperties: false },
);

export const MachineSchema = Type.Object(
  {
    name: name('a machine name'),
    macs: Type.Array(Type.String(), { minItems: 1, maxItems: 16 }),
    bmc: Type.Optional(BmcSchema),
    role: Type.Enum(['management', 'kvm-host', 'worker']),
    zone: Type.Optional(name('a zone')),
    profile: Type.Optional(name('a profile name')),
    bootAddress: Type.Optional(Type.String({ description: 'static address on the boot network (reservation)' })),
    production: Type.Optional(ProductionSchema),
    ssh: Type.Optional(MachineSshSchema),
    capacity: Type.Optional(
      Type.Object(
        { vcpu: Type.Integer({ minimum: 1 }), memoryMiB: Type.Integer({ minimum: 256 }), diskGiB: Type.Integer({ minimum: 1 }) },
        { additionalProperties: false, description: "a kvm-host's resources for cluster VMs; default: what the host reports (CPUs, memory, free disk)" },
      ),
    ),
    labels: Type.Optional(
      // additionalProperties: a key not matching the pattern is an error, not silently accepted.
      Type.Record(Type.String({ pattern: '^[A-Za-z0-9]([A-Za-z0-9_./-]{0,62})$' }), Type.String({ maxLength: 253 }), {
        additionalProperties: false,
        errorMessage: "a label key is 1-63 letters, digits, '_', '.', '/' or '-', starting with a letter or digit",
      }),
    ),
  },
  { additionalProperties: false },
);

export const ProfileSchema = Type.Object(
  {
    name: name('a profile name'),
    kernel: text,
    initrd: Type.Array(text, { minItems: 0 }),
    cmdline: Type.Optional(Type.String()),
    sshAuthorizedKeys: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 16384, pattern: '^[^\\n\\r]+$', errorMessage: 'one public key per entry, on one line' }), {
        description: 'public keys the installed system accepts for root (written into the installer configuration)',
      }),
    ),
    install: Type.Optional(
      Type.Object(
        {
          method: Type.Enum(['image', 'live']),
          image: Type.Optional(text),
          template: Type.Optional(text),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const BootNetworkSchema = Type.Object(
  {
    name: name('a network name'),
    subnet: Type.String(),
    gateway: Type.Optional(Type.String()),
    dns: Type.Optional(Type.Array(Type.String())),
    pool: Type.Optional(Type.Object({ start: Type.String(), end: Type.String() }, { additionalProperties: false })),
    leaseSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 7 * 86400 })),
  },
  { additionalProperties: false },
);

export const ProductionNetworkSchema = Type.Object(
  {
    name: name('a network name'),
    subnet: Type.String(),
    gateway: Type.Optional(Type.String()),
    vlan: Type.Optional(Type.Integer({ minimum: 1, maximum: 4094 })),
    dns: Type.Optional(Type.Array(Type.String())),
  },
  { additionalProperties: false },
);

export const ClusterSchema = Type.Object(
  {
    name: name('a cluster name'),
    controlPlanes: Type.Enum([1, 3], { errorMessage: 'must be 1 or 3' }),
    workers: Type.Integer({ minimum: 0, maximum: 500 }),
    node: Type.Object(
      {
        vcpu: Type.Integer({ minimum: 1, maximum: 256 }),
        memoryMiB: Type.Integer({ minimum: 512 }),
        diskGiB: Type.Integer({ minimum: 1 }),
      },
      { additionalProperties: false },
    ),
    image: text,
    kubernetesVersion: Type.String({ pattern: '^v?[0-9]+\\.[0-9]+(\\.[0-9]+)?$', errorMessage: 'must be a Kubernetes version like 1.31.2' }),
    subnet: Type.Optional(Type.String({ description: "the node subnet; default: one taken from the configuration's clusters.overlayPool. Clusters may share one: they never see each other" })),
    podCidr: Type.String(),
    serviceCidr: Type.String(),
    calico: Type.Optional(
      Type.Object(
        {
          ipPool: Type.Optional(Type.String()),
          asNumber: Type.Optional(Type.Integer({ minimum: 1, maximum: 4294967295 })),
          encapsulation: Type.Optional(Type.Enum(['none', 'ipip', 'vxlan'])),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const InventorySchema = Type.Object(
  {
    networks: Type.Optional(
      Type.Object(
        {
          boot: Type.Optional(Type.Array(BootNetworkSchema)),
          production: Type.Optional(Type.Array(ProductionNetworkSchema)),
        },
        { additionalProperties: false },
      ),
    ),
    profiles: Type.Optional(Type.Array(ProfileSchema)),
    machines: Type.Optional(Type.Array(MachineSchema)),
    clusters: Type.Optional(Type.Array(ClusterSchema)),
  },
  { additionalProperties: false },
);

export type Bmc = Static<typeof BmcSchema>;
export type Machine = Static<typeof MachineSchema>;
export type Profile = Static<typeof ProfileSchema>;
export type BootNetwork = Static<typeof BootNetworkSchema>;
export type ProductionNetwork = Static<typeof ProductionNetworkSchema>;
export type Cluster = Static<typeof ClusterSchema>;
export type Inventory = Static<typeof InventorySchema>;

/** The inventory after normalisation: every section present, MACs and addresses canonical. */
export interface NormalizedInventory {
  networks: { boot: BootNetwork[]; production: ProductionNetwork[] };
  profiles: Profile[];
  machines: Machine[];
  clusters: Cluster[];
}
