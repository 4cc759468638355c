// The daemon's configuration file (/etc/ironbay/ironbay.yaml on an appliance). One schema,
// also published in the API's OpenAPI document. Reference: README.md#configuration.
import { Type, type Static } from 'typebox';

export const ConfigSchema = Type.Object(
  {
    dataDir: Type.String({ minLength: 1, default: '/var/lib/ironbay', description: 'SQLite database and generated state' }),
    inventory: Type.String({ minLength: 1, default: '/etc/ironbay/inventory.yaml', description: 'the inventory file the daemon watches' }),
    api: Type.Object(
      {
        listen: Type.String({ default: '127.0.0.1', description: 'address the HTTP API binds to' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 8470 }),
      },
      { additionalProperties: false, default: {} },
    ),
    log: Type.Object(
      {
        level: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace'], { default: 'info' }),
      },
      { additionalProperties: false, default: {} },
    ),
    boot: Type.Object(
      {
        // Empty by default: DHCP and TFTP are served only on interfaces named here, so a
        // fresh install can never become a rogue DHCP server on the production network.
        interfaces: Type.Array(Type.String({ minLength: 1, maxLength: 15 }), { default: [] }),
        mode: Type.Enum(['reservation', 'discovery', 'proxy'], {
          default: 'reservation',
          description:
            'reservation: answer only machines in the inventory (safe beside another DHCP server); discovery: also lease unknown MACs from the pool and boot them into discovery; proxy: ProxyDHCP, boot information only, addresses come from another server',
        }),
        advertise: Type.Optional(
          Type.String({
            format: 'ipv4',
            description: 'address boot clients reach ironbay at (TFTP next-server, HTTP URLs); default: the first IPv4 address of the first boot interface',
          }),
        ),
        dhcp: Type.Object(
          {
            port: Type.Integer({ minimum: 1, maximum: 65535, default: 67 }),
            clientPort: Type.Integer({ minimum: 1, maximum: 65535, default: 68, description: 'where direct (unrelayed) replies go' }),
            proxyPort: Type.Integer({ minimum: 1, maximum: 65535, default: 4011, description: 'PXE boot server port (proxy mode)' }),
          },
          { additionalProperties: false, default: {} },
        ),
        tftp: Type.Object(
          {
            port: Type.Integer({ minimum: 1, maximum: 65535, default: 69 }),
            root: Type.Optional(Type.String({ minLength: 1, description: 'extra directory served over TFTP besides pxe-assets' })),
            maxTransfers: Type.Integer({ minimum: 1, maximum: 100000, default: 2000 }),
            maxWindowsize: Type.Integer({ minimum: 1, maximum: 64, default: 16, description: 'largest RFC 7440 window granted' }),
          },
          { additionalProperties: false, default: {} },
        ),
        http: Type.Object(
          {
            // Separate from the API listener: the boot network reaches boot scripts, assets and
            // phone-home, never the operator API.
            listen: Type.Optional(
              Type.String({ description: 'address the boot HTTP server binds to; default: the advertised boot address, so it is not reachable from other networks' }),
            ),
            port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
          },
          { additionalProperties: false, default: {} },
        ),
        assets: Type.Optional(
          Type.String({
            minLength: 1,
            description: "directory of kernels, initrds and disk images; profiles' paths are relative to it; default: DATADIR/assets",
          }),
        ),
        routerAdvertisement: Type.Boolean({
          default: true,
          description: 'answer IPv6 router solicitations on boot interfaces with a prefix-less advertisement, so iPXE does not wait for IPv6 autoconfiguration',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    bmc: Type.Object(
      {
        concurrency: Type.Integer({ minimum: 1, maximum: 4096, default: 64, description: 'BMC operations in flight at once over all machines (one at a time per BMC)' }),
        powerOnRate: Type.Number({
          exclusiveMinimum: 0,
          maximum: 1000,
          default: 2,
          description: 'power-ons (on, cycle, reset) started per second over the fleet, so a rack never draws its inrush current at once nor floods the boot network',
        }),
        timeoutMs: Type.Integer({ minimum: 50, maximum: 60000, default: 1000, description: 'IPMI: wait per try; Redfish: ten times this per request' }),
        retries: Type.Integer({ minimum: 0, maximum: 10, default: 3, description: 'tries after the first before a BMC counts as not answering' }),
      },
      { additionalProperties: false, default: {} },
    ),
    lifecycle: Type.Object(
      {
        maxPowerCycling: Type.Integer({ minimum: 1, maximum: 10000, default: 10, description: 'machines power-cycling into PXE at once; the rest queue in order' }),
        maxInstalling: Type.Integer({
          minimum: 1,
          maximum: 100000,
          default: 20,
          description: 'machines power-cycling, PXE-booting or installing at once: the boot network load a provision may cause',
        }),
        dhcpTimeoutS: Type.Integer({ minimum: 5, default: 300, description: 'after a power cycle, DHCP must be seen within this; else cycle again' }),
        pxeTimeoutS: Type.Integer({ minimum: 5, default: 300, description: 'after DHCP, the installer must be running within this' }),
        installTimeoutS: Type.Integer({ minimum: 10, default: 3600, description: 'the installer must report "installed" within this' }),
        productionTimeoutS: Type.Integer({ minimum: 5, default: 900, description: 'after the handoff, the machine must answer on its production address within this' }),
        attempts: Type.Integer({ minimum: 1, maximum: 20, default: 3, description: 'power cycles per wait before the machine is failed' }),
        pollMs: Type.Integer({ minimum: 50, maximum: 60000, default: 2000, description: 'how often a waiting machine is looked at' }),
        productionPort: Type.Integer({ minimum: 1, maximum: 65535, default: 22, description: 'the port whose SSH banner says a machine is up on its production address' }),
        postInstallRunbook: Type.Optional(
          Type.Object(
            {
              name: Type.String({ minLength: 1 }),
              params: Type.Record(Type.String(), Type.Union([Type.String(), Type.Integer(), Type.Boolean()]), { default: {} }),
            },
            { additionalProperties: false, description: 'run on each machine once it answers on SSH after its install; the machine is ready when it succeeds' },
          ),
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    ssh: Type.Object(
      {
        keyFile: Type.Optional(Type.String({ minLength: 1, description: "the appliance's private key (made with ssh-keygen at the first start if missing); default: DATADIR/ssh/id_ed25519" })),
        user: Type.String({ minLength: 1, default: 'root', description: "login on machines; a machine's inventory entry can set its own" }),
        port: Type.Integer({ minimum: 1, maximum: 65535, default: 22 }),
        connectTimeoutMs: Type.Integer({ minimum: 100, maximum: 600000, default: 10000, description: 'TCP connect plus SSH handshake' }),
        stepTimeoutS: Type.Integer({ minimum: 1, maximum: 86400, default: 600, description: "a step without its own timeout is killed after this" }),
        runTimeoutS: Type.Integer({ minimum: 1, maximum: 604800, default: 21600, description: 'a run still going after this is stopped and fails' }),
        maxConnections: Type.Integer({ minimum: 1, maximum: 4096, default: 64, description: 'SSH connections open at once over every run' }),
        outputCapBytes: Type.Integer({ minimum: 1024, maximum: 67108864, default: 65536, description: "a step's stdout and stderr kept each (head and tail); the full size is recorded" }),
        runbooks: Type.Optional(Type.String({ minLength: 1, description: "folder of operators' runbook files (*.yaml); a runbook there overrides a built-in one of the same name" })),
        jump: Type.Optional(Type.String({ minLength: 1, description: 'the jump host every machine is reached through unless its inventory entry says otherwise' })),
        jumpHosts: Type.Array(
          Type.Object(
            {
              name: Type.String({ pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' }),
              host: Type.String({ minLength: 1 }),
              port: Type.Integer({ minimum: 1, maximum: 65535, default: 22 }),
              user: Type.String({ minLength: 1, default: 'root' }),
            },
            { additionalProperties: false },
          ),
          { default: [], description: 'bastions (or the appliance itself) that forward SSH to machines on networks the appliance cannot reach' },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    clusters: Type.Object(
      {
        vniRange: Type.Object(
          { min: Type.Integer({ minimum: 1, maximum: 16777215, default: 10000 }), max: Type.Integer({ minimum: 1, maximum: 16777215, default: 19999 }) },
          { additionalProperties: false, default: {}, description: "VXLAN network identifiers given to clusters, one each; keep clear of VNIs other systems use on the production network" },
        ),
        overlayPool: Type.String({ default: '100.96.0.0/12', description: "IPv4 block the clusters' node subnets are taken from (a cluster may name its own subnet instead)" }),
        subnetPrefix: Type.Integer({ minimum: 16, maximum: 28, default: 24, description: 'size of each node subnet taken from overlayPool' }),
        transitPool: Type.String({
          default: '169.254.128.0/17',
          description: "a /30 per cluster links its router namespace to each host; the same on every host, never routed beyond one: link-local by default",
        }),
        overcommit: Type.Object(
          {
            vcpu: Type.Number({ minimum: 0.1, maximum: 64, default: 4 }),
            memory: Type.Number({ minimum: 0.1, maximum: 4, default: 1 }),
            disk: Type.Number({ minimum: 0.1, maximum: 16, default: 1 }),
          },
          { additionalProperties: false, default: {}, description: "multipliers on each kvm-host's capacity when VMs are placed" },
        ),
        domainType: Type.Enum(['kvm', 'qemu'], { default: 'kvm', description: 'libvirt domain type: qemu (software emulation) where /dev/kvm does not work' }),
        imageDir: Type.String({ minLength: 1, default: '/var/lib/ironbay/images', description: "on each host: where a cluster's base image (its 'image' path) is found" }),
        vmDir: Type.String({ minLength: 1, default: '/var/lib/ironbay/vms', description: "on each host: the VMs' disk overlays, seeds and console logs" }),
        kernel: Type.Optional(
          Type.Object(
            { path: Type.String({ minLength: 1 }), initrd: Type.String({ minLength: 1 }), cmdline: Type.String({ default: 'console=ttyS0' }) },
            { additionalProperties: false, description: 'direct kernel boot (paths on the host) for images without a boot loader' },
          ),
        ),
        endpoints: Type.Object(
          {
            listen: Type.String({ default: '0.0.0.0', description: "the appliance address clusters' API and ingress endpoints listen on" }),
            advertise: Type.Optional(Type.String({ description: 'the address kubeconfigs and `cluster show` give; default: listen, or the API address when listen is a wildcard' })),
            ports: Type.Object(
              { min: Type.Integer({ minimum: 1, maximum: 65535, default: 16443 }), max: Type.Integer({ minimum: 1, maximum: 65535, default: 19442 }) },
              { additionalProperties: false, default: {}, description: 'three ports per cluster: API, HTTP, HTTPS' },
            ),
          },
          { additionalProperties: false, default: {} },
        ),
        forwardPorts: Type.Object(
          { min: Type.Integer({ minimum: 1, maximum: 65535, default: 40000 }), max: Type.Integer({ minimum: 1, maximum: 65535, default: 49999 }) },
          { additionalProperties: false, default: {}, description: "two ports per VM on its host's production address, forwarded to the VM (API 6443 or HTTP/HTTPS)" },
        ),
        reconcileIntervalMs: Type.Integer({ minimum: 200, maximum: 3600000, default: 15000, description: 'how often every kvm-host is read and repaired' }),
        shutdownTimeoutS: Type.Integer({ minimum: 0, maximum: 3600, default: 60, description: 'an ACPI shutdown waits this long before the VM is destroyed' }),
        drainTimeoutS: Type.Integer({ minimum: 0, maximum: 3600, default: 120, description: 'a worker being removed is drained for at most this long' }),
      },
      { additionalProperties: false, default: {} },
    ),
    inventoryReload: Type.Object(
      {
        debounceMs: Type.Integer({ minimum: 0, maximum: 60000, default: 300 }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
