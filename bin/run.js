#!/usr/bin/env node
// The installed CLI: runs the compiled commands in dist/ (run `npm run build` first in a checkout).
import { execute } from '@oclif/core';

import { moveLeadingGlobalFlags } from '../dist/cli/argv.js';
import { runToEnd } from '../dist/cli/run-to-end.js';

await runToEnd(execute({ dir: import.meta.url, args: moveLeadingGlobalFlags(process.argv.slice(2)) }));
