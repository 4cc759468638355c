// IPMI outcomes mapped onto the power driver's stable codes (driver.ts): RMCP+ status codes
// from session setup (Table 13-15) and completion codes from commands (Table 5-2).
import { BmcError, type BmcErrorCode } from '../driver.ts';
import { completionText, rmcpStatusText } from './codec/index.ts';

/** During Open Session / RAKP: which status means what for an operator. */
export function rmcpStatusError(endpoint: string, step: string, status: number, username: string): BmcError {
  const text = rmcpStatusText(status);
  let code: BmcErrorCode = 'IB_ERR_BMC_AUTH';
  let hint = '';
  switch (status) {
    case 0x0d: // unauthorized name
      code = 'IB_ERR_BMC_AUTH_USER';
      hint = ` (the BMC has no enabled user "${username}" on this channel)`;
      break;
    case 0x0f: // invalid integrity check value: the BMC found our RAKP 3 wrong, i.e. the password
      code = 'IB_ERR_BMC_AUTH_PASSWORD';
      hint = ` (wrong password for "${username}")`;
      break;
    case 0x09:
    case 0x0a:
      code = 'IB_ERR_BMC_PRIVILEGE';
      hint = ` (user "${username}" may not log in at the privilege ironbay needs: operator)`;
      break;
    case 0x01:
    case 0x0b:
      code = 'IB_ERR_BMC_BUSY';
      hint = ' (all its sessions are in use; they free up when idle sessions time out)';
      break;
    case 0x04:
    case 0x05:
    case 0x06:
    case 0x07:
    case 0x10:
    case 0x11:
      code = 'IB_ERR_BMC_CIPHER';
      break;
  }
  return new BmcError(code, endpoint, `${step}: ${text}${hint}`, { details: { rmcpStatus: status } });
}

/** A command's non-zero completion code. */
export function completionError(endpoint: string, what: string, cc: number): BmcError {
  let code: BmcErrorCode = 'IB_ERR_BMC_FAILED';
  if (cc === 0xd4) code = 'IB_ERR_BMC_PRIVILEGE';
  else if (cc === 0xc1 || cc === 0xc2 || cc === 0x80) code = 'IB_ERR_BMC_UNSUPPORTED';
  else if (cc === 0xc0 || cc === 0xd2) code = 'IB_ERR_BMC_BUSY';
  return new BmcError(code, endpoint, `${what}: ${completionText(cc)}`, { details: { completionCode: cc } });
}
