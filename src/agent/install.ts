/**
 * Where kvctl itself is, for the agent (which runs `kvctl node`) and for `--local` (which runs `kvctl agent`):
 * the same Node.js binary and the same bin/run.js as the running process, so a cluster started from a
 * checkout or an installed package uses that copy throughout.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const kvctlRunJs = join(packageRoot, 'bin', 'run.js');

/** [file, ...args] that run a kvctl subcommand. */
export function kvctlCommand(...subcommand: string[]): string[] {
  return [process.execPath, kvctlRunJs, ...subcommand];
}

export const kvctlVersion: string = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
