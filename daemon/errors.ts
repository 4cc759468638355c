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
