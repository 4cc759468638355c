// Which machines a bulk request means: names given, plus every machine of a role or all of
// them, as the route defines "all" and "role" (power: those with a BMC; provision: those that
// can be provisioned). Shared by the power and lifecycle routes.
import { IronbayError } from '../errors.ts';
import type { Store } from '../store/db.ts';

export interface SelectionBody {
  machines?: string[] | undefined;
  role?: string | undefined;
  all?: boolean | undefined;
}

export interface SelectionRules {
  all: () => string[];
  role: (role: string) => string[];
  /** The 400 message when a role or "all" matches nothing. */
  noMatch: (s: SelectionBody) => string;
  /** Unknown names are a 404 (power), or left to the action to report per machine (lifecycle). */
  refuseUnknown: boolean;
}

export function selectMachines(store: Store, s: SelectionBody, rules: SelectionRules): string[] {
  const names = new Set(s.machines ?? []);
  if (s.all) for (const n of rules.all()) names.add(n);
  else if (s.role) for (const n of rules.role(s.role)) names.add(n);
  if (!names.size) throw new IronbayError('IB_ERR_BAD_REQUEST', s.all || s.role ? rules.noMatch(s) : 'name machines, a role, or all');
  if (rules.refuseUnknown) {
    const known = store.db.prepare('SELECT 1 FROM machines WHERE name = ?').pluck();
    for (const n of names) if (known.get(n) === undefined) throw new IronbayError('IB_ERR_NOT_FOUND', `no machine named "${n}"`);
  }
  return [...names];
}
