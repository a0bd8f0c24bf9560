/**
 * A cluster of `kvctl agent` processes on loopback "hosts" (127.0.0.1, .2, ...) and the CLI driving them with
 * its own KVCTL_HOME, for the e2e tests of agents: start N agents, run kvctl and etcdctl with the context's
 * certificates, and stop every agent and member at the end (test/support/agents.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { type Run, kvctl as runKvctl } from '../e2e/kvctl.js';
import { type TestAgent, startAgent } from './agents.js';
import { etcdctl } from './etcdctl.js';
import { freePort } from './ports.js';
import { reapDir } from './reaper.js';

export const TOKEN = 'kvat_test-token-0123456789abcdef';

export interface Harness {
  home: string;
  agents: TestAgent[];
  run(args: readonly string[], timeoutMs?: number): Promise<Run>;
  /** etcdctl against `endpoint` with the context's client certificate. */
  ctl(endpoint: string, args: readonly string[]): Promise<Run>;
  cleanup(): Promise<void>;
}

export async function harness(count: number, agentArgs: readonly string[] = []): Promise<Harness> {
  const home = mkdtempSync(join(tmpdir(), 'kvctl-home-'));
  reapDir(home);
  const agents: TestAgent[] = [];
  for (let i = 1; i <= count; i++) agents.push(await startAgent({ name: `a${i}`, host: `127.0.0.${i}`, token: TOKEN, args: agentArgs }));
  const pki = join(home, 'contexts', 'default', 'pki');
  return {
    home,
    agents,
    run: (args, timeoutMs = 120_000) => runKvctl(args, { timeoutMs, env: { KVCTL_HOME: home, KVCTL_AGENT_TOKEN: '' } }),
    ctl: (endpoint, args) => etcdctl(endpoint, ['--cacert', join(pki, 'ca.crt'), '--cert', join(pki, 'admin.crt'), '--key', join(pki, 'admin.key'), ...args]),
    cleanup: async () => {
      await Promise.all(agents.map((a) => a.destroy()));
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** `--member` arguments for the first `n` agents, with free client and peer ports on each host. */
export async function memberArgs(agents: readonly TestAgent[]): Promise<string[]> {
  const args: string[] = [];
  for (const [i, a] of agents.entries()) {
    args.push('--member', `m${i + 1}=${a.host}:${await freePort(a.host)}:${await freePort(a.host)}:${a.port}`);
  }
  return args;
}

export function ok(r: Run, what: string): Run {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

export type StatusRow = { member: string; node: string; pid: number; restarts: number; health: string; isLeader: boolean };

export async function status(h: Harness): Promise<StatusRow[]> {
  const r = await h.run(['cluster', 'status', '--json']);
  return JSON.parse(r.stdout) as StatusRow[];
}
