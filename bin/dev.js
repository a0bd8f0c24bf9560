#!/usr/bin/env -S node --import tsx
// Development CLI: runs the TypeScript commands in src/ through tsx, no build needed.
//
// It loads package.json with oclif.commands pointed at ./src/commands. (The mapping @oclif/core 4 would
// do itself, dist to src via tsconfig rootDir/outDir, gives up when it cannot register tsx or ts-node
// on its own, which fails with tsx 4.23 and no ts-node installed.)
// Never keep an oclif.manifest.json: dev mode would use it and miss commands added since.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { execute } from '@oclif/core';

import { moveLeadingGlobalFlags } from '../src/cli/argv.ts';
import { runToEnd } from '../src/cli/run-to-end.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const pjson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
pjson.oclif = { ...pjson.oclif, commands: './src/commands' };

await runToEnd(execute({ development: true, loadOptions: { root, pjson }, args: moveLeadingGlobalFlags(process.argv.slice(2)) }));
