/**
 * What an agent remembers across restarts, in `<agent dir>/agent.json` (written whole, synced, renamed): whether
 * it is enrolled and in which cluster, the member it runs, and whether that member should be running.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { ensureDir, replaceFile } from '../pki/index.js';
import type { NodeSpec } from './spec.js';
import { newToken } from './trust.js';

export interface AgentState {
  readonly clusterName: string;
  readonly enrolled: boolean;
  readonly spec: NodeSpec | undefined;
  readonly wantRunning: boolean;
}

export const emptyState: AgentState = { clusterName: '', enrolled: false, spec: undefined, wantRunning: false };

export function stateFile(agentDir: string): string {
  return join(agentDir, 'agent.json');
}

export async function loadState(agentDir: string): Promise<AgentState> {
  let text: string;
  try {
    text = await readFile(stateFile(agentDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyState;
    throw err;
  }
  const parsed = JSON.parse(text) as Partial<AgentState>;
  return {
    clusterName: typeof parsed.clusterName === 'string' ? parsed.clusterName : '',
    enrolled: parsed.enrolled === true,
    spec: parsed.spec ?? undefined,
    wantRunning: parsed.wantRunning === true,
  };
}

export async function saveState(agentDir: string, state: AgentState): Promise<void> {
  await ensureDir(agentDir);
  await replaceFile(stateFile(agentDir), `${JSON.stringify(state, null, 2)}\n`, 0o600);
}

/** Where an agent keeps a bootstrap token it generated (or `--local` wrote for it). */
export function tokenFile(agentDir: string): string {
  return join(agentDir, 'bootstrap-token');
}

/** Writes a bootstrap token, whole and readable by its owner only. */
export async function writeTokenFile(path: string, token: string): Promise<void> {
  await replaceFile(path, `${token}\n`, 0o600);
}

/**
 * The agent's bootstrap token: given, read from `file`, or else the one in the agent dir's token file,
 * generated there on first start. `source` says which, for the log.
 */
export async function agentToken(opts: { token?: string | undefined; file?: string | undefined; agentDir: string }): Promise<{ token: string; source: string }> {
  if (opts.token !== undefined) return { token: opts.token, source: 'given' };
  if (opts.file !== undefined) return { token: (await readFile(opts.file, 'utf8')).trim(), source: `from ${opts.file}` };
  const file = tokenFile(opts.agentDir);
  const kept = await readFile(file, 'utf8').then((t) => t.trim(), () => undefined);
  if (kept !== undefined) return { token: kept, source: `in ${file}` };
  const token = newToken();
  await ensureDir(opts.agentDir);
  await writeTokenFile(file, token);
  return { token, source: `generated into ${file}` };
}
