#!/usr/bin/env node
// The `ironbay` executable. It turns on Node's on-disk compile cache before any other
// module loads — the CLI is short-lived and its dependencies are many small modules, so
// compiling them once instead of on every run saves a noticeable part of its start-up.
import { enableCompileCache } from 'node:module';

enableCompileCache();
await import('./commands.ts');
