// The catalogue of ironbay errors. Codes are stable: the API returns them, the CLI prints
// them, tests assert on them. Messages name the thing concerned (file, machine, token).
export const ErrorCodes = {
  IB_ERR_CONFIG_INVALID: 'configuration file is invalid',
  IB_ERR_INVENTORY_INVALID: 'inventory file is invalid',
  IB_ERR_INVENTORY_READ: 'inventory file cannot be read',
  IB_ERR_DB_TOO_NEW: 'database was written by a newer ironbay',
  IB_ERR_DB_OPEN: 'database cannot be opened',
  IB_ERR_AUTH_MISSING: 'no bearer token given',
  IB_ERR_AUTH_INVALID: 'bearer token is unknown or revoked',
  IB_ERR_FORBIDDEN: 'token role is not allowed to do this',
  IB_ERR_NOT_FOUND: 'not found',
  IB_ERR_CONFLICT: 'conflicts with existing state',
  IB_ERR_BAD_REQUEST: 'request is invalid',
  IB_ERR_API_UNREACHABLE: 'daemon API cannot be reached',
  IB_ERR_INTERNAL: 'internal error',
  IB_ERR_BMC_UNREACHABLE: 'BMC cannot be reached',
  IB_ERR_BMC_TIMEOUT: 'BMC stopped answering',
  IB_ERR_BMC_AUTH_USER: 'BMC does not know this user',
  IB_ERR_BMC_AUTH_PASSWORD: 'BMC rejected the password',
  IB_ERR_BMC_AUTH: 'BMC rejected the credentials',
  IB_ERR_BMC_PRIVILEGE: 'BMC user lacks the privilege for this',
  IB_ERR_BMC_UNSUPPORTED: 'BMC does not support this',
  IB_ERR_BMC_BUSY: 'BMC is busy or out of sessions',
  IB_ERR_BMC_CIPHER: 'no acceptable cipher suite',
  IB_ERR_BMC_TLS: 'BMC certificate is not trusted',
  IB_ERR_BMC_PROTOCOL: 'BMC answered something ironbay cannot use',
  IB_ERR_BMC_BOOTDEV_NOT_APPLIED: 'BMC accepted the boot device but did not apply it',
  IB_ERR_BMC_FAILED: 'BMC refused the command',
  IB_ERR_SSH_UNREACHABLE: 'host cannot be reached over SSH',
  IB_ERR_SSH_TIMEOUT: 'SSH connection timed out',
  IB_ERR_SSH_AUTH: "host refused the appliance's SSH key",
  IB_ERR_SSH_HOSTKEY_CHANGED: 'host presented a different SSH host key than the pinned one',
  IB_ERR_SSH_PROTOCOL: 'SSH connection failed',
  IB_ERR_SSH_CLOSED: 'SSH connection was lost',
  IB_ERR_SSH_KEY: "the appliance's SSH key cannot be read or made",
  IB_ERR_RUNBOOK_INVALID: 'runbook is invalid',
  IB_ERR_RUNBOOK_PARAMS: 'runbook parameters are invalid',
  IB_ERR_CLUSTER_NO_FIT: 'the cluster does not fit on the ready kvm-hosts',
  IB_ERR_CLUSTER_EXHAUSTED: 'a configured range for clusters is used up',
  IB_ERR_CLUSTER_HOST: 'a kvm-host cannot be read or changed',
  IB_ERR_PKI: 'cluster certificate cannot be made',
  IB_ERR_KUBE_UNREACHABLE: 'cluster API cannot be reached',
  IB_ERR_KUBE_TIMEOUT: 'cluster API stopped answering',
  IB_ERR_KUBE_TLS: 'TLS with the cluster API failed',
  IB_ERR_KUBE_API: 'cluster API refused the request or answered something unusable',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class IronbayError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'IronbayError';
    this.code = code;
    this.details = options?.details;
  }
}

export function isIronbayError(e: unknown, code?: ErrorCode): e is IronbayError {
  return e instanceof IronbayError && (code === undefined || e.code === code);
}
