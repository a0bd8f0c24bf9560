/**
 * A cluster plan: which members, on which hosts and ports, reached through which agents, and the NodeSpec each
 * agent gets. Everything here is pure and checked before anything changes anywhere.
 */
import { isIP } from 'node:net';

import type { NodeSpec, TlsFiles } from '../proto/gen/kvctl/agent/v1/agent.js';
import { defaultAgentPort } from './client.js';
import { PlanError } from './errors.js';

export interface MemberPlan {
  readonly name: string;
  readonly host: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly agentPort: number;
}

export type BootstrapMode =
  | { readonly kind: 'static' }
  | { readonly kind: 'discovery'; readonly url: string }
  | { readonly kind: 'dns-srv'; readonly domain: string; readonly serviceName: string; readonly dnsServer: string };

export interface ClusterPlan {
  readonly clusterName: string;
  readonly tls: boolean;
  readonly runtime: string;
  readonly image: string;
  readonly mode: BootstrapMode;
  readonly members: readonly MemberPlan[];
  /** Other ETCD_* settings for every member (name without ETCD_ → value). */
  readonly settings: Readonly<Record<string, string>>;
}

export const defaultPorts = { client: 2379, peer: 2380, agent: defaultAgentPort } as const;

function port(text: string, what: string, arg: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) throw new PlanError(`--member ${arg}: ${what} port ${JSON.stringify(text)} is not a port number`);
  return n;
}

/**
 * `name=host[:client-port[:peer-port[:agent-port]]]` (an IPv6 host in brackets); the ports default to etcd's
 * 2379/2380 and the agent's 2390.
 */
export function parseMemberArg(arg: string, defaults: { client: number; peer: number; agent: number } = defaultPorts): MemberPlan {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new PlanError(`--member ${JSON.stringify(arg)}: expected name=host[:client-port[:peer-port[:agent-port]]]`);
  const name = arg.slice(0, eq);
  const rest = arg.slice(eq + 1);
  const m = /^(\[[^\]]+\]|[^:[\]]+)((?::[^:]*){0,3})$/.exec(rest);
  if (m === null || m[1] === undefined) throw new PlanError(`--member ${JSON.stringify(arg)}: expected name=host[:client-port[:peer-port[:agent-port]]]`);
  const host = m[1].replace(/^\[|\]$/g, '');
  const ports = (m[2] ?? '').split(':').slice(1);
  return {
    name,
    host,
    clientPort: ports[0] !== undefined ? port(ports[0], 'client', arg) : defaults.client,
    peerPort: ports[1] !== undefined ? port(ports[1], 'peer', arg) : defaults.peer,
    agentPort: ports[2] !== undefined ? port(ports[2], 'agent', arg) : defaults.agent,
  };
}

/** `--local N`: members m1..mN on 127.0.0.1..N, each with the same ports on its own loopback address. */
export function localMembers(count: number, ports: { client: number; peer: number; agent: number } = defaultPorts): MemberPlan[] {
  if (!Number.isInteger(count) || count < 1 || count > 9) throw new PlanError(`--local ${count}: between 1 and 9 members`);
  return Array.from({ length: count }, (_, i) => ({ name: `m${i + 1}`, host: `127.0.0.${i + 1}`, clientPort: ports.client, peerPort: ports.peer, agentPort: ports.agent }));
}

function hostForUrl(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

export function clientUrl(plan: ClusterPlan, m: MemberPlan): string {
  return `${plan.tls ? 'https' : 'http'}://${hostForUrl(m.host)}:${m.clientPort}`;
}

export function peerUrl(plan: ClusterPlan, m: MemberPlan): string {
  return `${plan.tls ? 'https' : 'http'}://${hostForUrl(m.host)}:${m.peerPort}`;
}

export function agentAddress(m: MemberPlan): string {
  return `${hostForUrl(m.host)}:${m.agentPort}`;
}

export function initialCluster(plan: ClusterPlan, members: readonly MemberPlan[] = plan.members): string {
  return members.map((m) => `${m.name}=${peerUrl(plan, m)}`).join(',');
}

/** What a plan risks, for the operator to read before anything starts. */
export function planWarnings(size: number): string[] {
  const warnings: string[] = [];
  if (size === 1) warnings.push('a 1-member cluster tolerates no failure: use 3 or 5 members in production');
  else if (size % 2 === 0) {
    warnings.push(`an even-sized cluster (${size}) tolerates no more failures than ${size - 1} members (quorum ${Math.floor(size / 2) + 1}): use ${size - 1} or ${size + 1}`);
  }
  if (size > 7) warnings.push(`${size} members: every write waits for ${Math.floor(size / 2) + 1} of them; etcd recommends at most 7`);
  return warnings;
}

/** Refuses plans that cannot work: duplicate names, two members on one host:port, bad names. */
export function checkPlan(plan: ClusterPlan): void {
  if (plan.members.length === 0) throw new PlanError('the plan has no members: give --member name=host (repeated), a --file, or --local N');
  const names = new Set<string>();
  const addresses = new Map<string, string>();
  for (const m of plan.members) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(m.name)) throw new PlanError(`member name ${JSON.stringify(m.name)} must be 1-63 letters, digits, '.', '_' or '-'`);
    if (names.has(m.name)) throw new PlanError(`member name ${m.name} is given twice`);
    names.add(m.name);
    if (new Set([m.clientPort, m.peerPort, m.agentPort]).size !== 3) throw new PlanError(`member ${m.name}: client, peer and agent ports must differ`);
    for (const [what, p] of [['client', m.clientPort], ['peer', m.peerPort], ['agent', m.agentPort]] as const) {
      const key = `${m.host}:${p}`;
      const other = addresses.get(key);
      if (other !== undefined) throw new PlanError(`member ${m.name}'s ${what} port ${key} is already used by ${other}`);
      addresses.set(key, `${m.name} (${what})`);
    }
  }
  if (plan.runtime === 'docker' && plan.image === '') throw new PlanError('--runtime docker needs --image (kvctl never pulls an image: it must be on every host)');
}

/** The address a member listens on: its host when that is an IP address, else every address. */
function listenHost(host: string): string {
  return isIP(host) !== 0 ? hostForUrl(host) : '0.0.0.0';
}

export interface MemberTls {
  readonly client: TlsFiles;
  readonly peer: TlsFiles;
}

/** How a member starts: what etcd's --initial-cluster* flags say, and its certificates. */
export interface MemberStart {
  /** "new" at bootstrap (and restore), "existing" for a member added or moved later. */
  readonly state: 'new' | 'existing';
  /** `name=peer-url,...`; unused at a discovery or DNS SRV bootstrap, where the members find each other. */
  readonly initialCluster: string;
  /** --initial-cluster-token: clusterTokenFor (derived from the cluster's CA), or a restore's new one. */
  readonly token: string;
  readonly tls: MemberTls | undefined;
}

/** The spec of one member. */
export function memberSpec(plan: ClusterPlan, m: MemberPlan, start: MemberStart): NodeSpec {
  const { state, tls } = start;
  const scheme = plan.tls ? 'https' : 'http';
  const mode = plan.mode;
  return {
    memberName: m.name,
    runtime: plan.runtime,
    image: plan.image,
    listenClientUrls: [`${scheme}://${listenHost(m.host)}:${m.clientPort}`],
    advertiseClientUrls: [clientUrl(plan, m)],
    listenPeerUrls: [`${scheme}://${listenHost(m.host)}:${m.peerPort}`],
    initialAdvertisePeerUrls: [peerUrl(plan, m)],
    initialCluster: mode.kind === 'static' || state === 'existing' ? start.initialCluster : '',
    initialClusterState: state,
    initialClusterToken: start.token,
    discovery: mode.kind === 'discovery' && state === 'new' ? mode.url : '',
    discoverySrv: mode.kind === 'dns-srv' && state === 'new' ? mode.domain : '',
    discoverySrvName: mode.kind === 'dns-srv' && state === 'new' ? mode.serviceName : '',
    dnsServer: mode.kind === 'dns-srv' && state === 'new' && plan.runtime === 'kvctl' ? mode.dnsServer : '',
    clientTls: tls?.client,
    peerTls: tls?.peer,
    settings: { ...plan.settings },
  };
}

/**
 * The names a member's certificates must cover: its host, and for another loopback address 127.0.0.1 too.
 * etcd checks a peer's certificate against the source address of its connection, and a connection between
 * loopback addresses leaves from 127.0.0.1 unless the dialler binds its own address (etcd does not).
 */
export function memberCertificateHosts(host: string): string[] {
  return host.startsWith('127.') && host !== '127.0.0.1' ? [host, '127.0.0.1'] : [host];
}
