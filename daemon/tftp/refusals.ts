// Why a request gets an ERROR instead of a transfer, and which ERROR (RFC 1350 §5 codes).
// Keys are stable (metric labels, onTransfer reasons, tests). Refusals for security reasons
// all read "Access violation" on the wire: a prober learns nothing about which check failed;
// the log says which.
import { ERROR_CODES } from './codec/index.ts';
import type { OpenRefusal } from './open.ts';
import type { ContentError } from './content.ts';

interface Answer {
  readonly code: number;
  readonly message: string;
}

const ACCESS: Answer = { code: ERROR_CODES.accessViolation, message: 'Access violation' };

export const REFUSALS = {
  'write-request': { code: ERROR_CODES.accessViolation, message: 'Read-only server: write requests are refused' },
  'mail-mode': { code: ERROR_CODES.illegalOperation, message: 'Mail mode is not supported' },
  busy: { code: ERROR_CODES.notDefined, message: 'Server busy, try again later' },
  'not-found': { code: ERROR_CODES.fileNotFound, message: 'File not found' },
  empty: ACCESS,
  'nul-byte': ACCESS,
  'control-character': ACCESS,
  'non-ascii': ACCESS,
  'too-long': ACCESS,
  'segment-too-long': ACCESS,
  'dot-dot': ACCESS,
  'outside-root': ACCESS,
  'symlink-loop': ACCESS,
  'access-denied': ACCESS,
  'not-a-file': ACCESS,
  'io-error': { code: ERROR_CODES.notDefined, message: 'Cannot read the file' },
  'file-changed': { code: ERROR_CODES.notDefined, message: 'File changed while being read, try again' },
  'too-large-for-netascii': { code: ERROR_CODES.notDefined, message: 'File too large for netascii mode, use octet' },
  'no-socket': { code: ERROR_CODES.notDefined, message: 'Server error' },
} as const satisfies Record<OpenRefusal | ContentError['reason'] | 'write-request' | 'mail-mode' | 'busy' | 'no-socket', Answer>;
export type Refusal = keyof typeof REFUSALS;
