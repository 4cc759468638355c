// The IPMI v2.0 / RMCP+ codec: pure bytes ⇄ typed messages and the RAKP key arithmetic
// (STYLE.md §1). No sockets, no clock; randomness only where the caller gives none.
export * from './commands.ts';
export * from './keys.ts';
export * from './message.ts';
export * from './rakp.ts';
export * from './result.ts';
export * from './rmcp.ts';
export * from './session.ts';
export * from './suites.ts';
