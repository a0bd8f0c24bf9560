/**
 * The CLI's view of a cluster's agents: the cluster's PKI (CA, the operator's client certificate, agent and
 * member certificates, all in the context's pki/ directory), and a connection to an agent that enrolls it first
 * when it is new.
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  caCertFile,
  ensureMemberCertificates,
  exists,
  hostsNotCovered,
  initCa,
  issueCertificate,
  peerCertificateName,
  renewCertificate,
} from '../pki/index.js';
import type { TlsFiles } from '../proto/gen/kvctl/agent/v1/agent.js';
import { AgentConnection, type ClientTlsFiles } from './client.js';
import { AgentStateError, AgentUnavailableError } from './errors.js';
import type { MemberTls } from './plan.js';

/** The operator's client certificate: CN root (etcd's root user when auth is on). */
export const adminCertName = 'admin';

export interface ClusterPkiFiles {
  readonly dir: string;
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

export function clusterPkiFiles(dir: string): ClusterPkiFiles {
  return { dir, ca: join(dir, caCertFile), cert: join(dir, `${adminCertName}.crt`), key: join(dir, `${adminCertName}.key`) };
}

/** The CA and the operator's client certificate, made when missing (a rerun keeps them). */
export async function ensureClusterPki(dir: string, clusterName: string): Promise<ClusterPkiFiles> {
  const files = clusterPkiFiles(dir);
  if (!(await exists(files.ca))) await initCa(dir, { commonName: `kvctl CA ${clusterName}` });
  if (!(await exists(files.cert))) await issueCertificate(dir, { profile: 'client', name: adminCertName, commonName: 'root' });
  return files;
}

export async function adminTls(files: ClusterPkiFiles): Promise<ClientTlsFiles> {
  const [ca, cert, key] = await Promise.all([readFile(files.ca), readFile(files.cert), readFile(files.key)]);
  return { ca, cert, key };
}

function splitHosts(hosts: readonly string[]): { ips: string[]; dns: string[] } {
  return { ips: hosts.filter((h) => isIP(h) !== 0), dns: hosts.filter((h) => isIP(h) === 0) };
}

async function pemPair(dir: string, p: { certFile: string; keyFile: string }): Promise<TlsFiles> {
  return { caPem: await readFile(join(dir, caCertFile), 'utf8'), certPem: await readFile(p.certFile, 'utf8'), keyPem: await readFile(p.keyFile, 'utf8') };
}

/**
 * A member's certificates as the agent API carries them (PEM text): issued when missing, reused when they cover
 * `hosts`, re-issued for `hosts` when they do not (the context's PKI is kvctl's own: a name that comes back on
 * another host, after a removal or a move, gets certificates for where it is now), or always with `renew`.
 */
export async function memberTls(dir: string, member: string, hosts: readonly string[], opts: { renew?: boolean } = {}): Promise<MemberTls> {
  const serverCert = join(dir, `${member}.crt`);
  const peerCert = join(dir, `${peerCertificateName(member)}.crt`);
  const stale =
    (await exists(serverCert)) &&
    (await exists(peerCert)) &&
    (opts.renew === true || (await hostsNotCovered(serverCert, hosts)).length > 0 || (await hostsNotCovered(peerCert, hosts)).length > 0);
  const pair = stale
    ? { server: await renewCertificate(dir, member, { hosts }), peer: await renewCertificate(dir, peerCertificateName(member), { hosts }) }
    : await ensureMemberCertificates(dir, member, hosts);
  return { client: await pemPair(dir, pair.server), peer: await pemPair(dir, pair.peer) };
}

/** The agent's own server certificate (`agent-<member>`), issued once, re-issued when `hosts` are new to it. */
async function agentCertificate(dir: string, member: string, hosts: readonly string[]): Promise<{ certPem: string; keyPem: string }> {
  const name = `agent-${member}`;
  const certFile = join(dir, `${name}.crt`);
  if (!(await exists(certFile))) await issueCertificate(dir, { profile: 'server', name, ...splitHosts(hosts) });
  else if ((await hostsNotCovered(certFile, hosts)).length > 0) await renewCertificate(dir, name, { hosts });
  return { certPem: await readFile(certFile, 'utf8'), keyPem: await readFile(join(dir, `${name}.key`), 'utf8') };
}

/**
 * A mutual-TLS connection to the agent at `address`. An agent not yet enrolled is enrolled first with `token`
 * (its certificate issued for `hosts`); one enrolled in another cluster is refused.
 */
export async function connectAgent(
  address: string,
  opts: { pki: ClusterPkiFiles; clusterName: string; member: string; hosts: readonly string[]; token: string | undefined; progress?: (line: string) => void },
): Promise<AgentConnection> {
  const tls = await adminTls(opts.pki);
  const mutual = AgentConnection.enrolled(address, tls);
  try {
    await mutual.hello(3000);
    return mutual;
  } catch (err) {
    mutual.close();
    if (opts.token === undefined) {
      throw new AgentUnavailableError(
        `agent ${address} did not accept this cluster's certificate (${(err as Error).message}): if it is new, give its bootstrap token with --token or KVCTL_AGENT_TOKEN`,
      );
    }
  }
  let first: Awaited<ReturnType<typeof AgentConnection.firstContact>>;
  try {
    first = await AgentConnection.firstContact(address, opts.token);
  } catch (err) {
    if (!(err instanceof AgentUnavailableError)) throw err;
    throw new AgentUnavailableError(
      `${err.message}; it accepts neither this cluster's certificate nor first contact: it is down, or enrolled in another cluster (kvctl cluster down --purge in that cluster's context releases it)`,
      { cause: err },
    );
  }
  const { conn, hello } = first;
  try {
    if (hello.enrolled) throw new AgentStateError(`agent ${hello.agentName} at ${address} is enrolled in another cluster (CA ${hello.clusterCa}): reset it or pick another host`);
    const agentCert = await agentCertificate(opts.pki.dir, opts.member, opts.hosts);
    await conn.enroll({ caPem: await readFile(opts.pki.ca, 'utf8'), ...agentCert, clusterName: opts.clusterName });
    opts.progress?.(`agent ${hello.agentName} at ${address} enrolled`);
  } finally {
    conn.close();
  }
  // The agent switches to mutual TLS a moment after it answers.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const enrolled = AgentConnection.enrolled(address, tls);
    try {
      await enrolled.hello(2000);
      return enrolled;
    } catch (err) {
      enrolled.close();
      if (Date.now() > deadline) throw new AgentUnavailableError(`agent ${address} was enrolled but does not answer over mutual TLS: ${(err as Error).message}`);
      await sleep(100);
    }
  }
}
