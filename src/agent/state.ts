/**
 * What an agent remembers across restarts, in `<agent dir>/agent.json` (written whole, synced, renamed): whether
 * it is enrolled and in which cluster, the member it runs, and whether that member should be running.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { ensureDir, replaceFile } from '../pki/index.js';
import type { NodeSpec } from './spec.js';

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
