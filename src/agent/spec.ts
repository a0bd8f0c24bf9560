/**
 * A member as its agent runs it: the checked NodeSpec (the API's message), where its files live under the
 * agent's directory, and the values its templates are rendered with. etcd's own checks (URL forms, the
 * initial cluster) happen again in the node; these catch what would otherwise surface only as a node that
 * exits at start, and what the agent itself depends on (names that become file names, TLS files present).
 */
import { join } from 'node:path';

import type { NodeSpec, TlsFiles } from '../proto/gen/kvctl/agent/v1/agent.js';
import { AgentInputError } from './errors.js';

export type { NodeSpec, TlsFiles };

export const runtimes = ['kvctl', 'etcd', 'docker'] as const;
export type Runtime = (typeof runtimes)[number];

/** Where a member's files live under the agent's directory. */
export interface MemberLayout {
  readonly configDir: string;
  readonly envFile: string;
  readonly unitFile: string;
  readonly pkiDir: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly pidFile: string;
}

export function memberLayout(agentDir: string): MemberLayout {
  const configDir = join(agentDir, 'member');
  return {
    configDir,
    envFile: join(configDir, 'etcd.env'),
    unitFile: join(configDir, 'etcd-member.service'),
    pkiDir: join(configDir, 'pki'),
    dataDir: join(agentDir, 'data'),
    logFile: join(agentDir, 'logs', 'node.log'),
    pidFile: join(agentDir, 'node.pid'),
  };
}

/** The certificate files of a member, as its env file names them. */
export function memberPkiFiles(pkiDir: string) {
  return {
    ca: join(pkiDir, 'ca.crt'),
    cert: join(pkiDir, 'server.crt'),
    key: join(pkiDir, 'server.key'),
    peerCert: join(pkiDir, 'peer.crt'),
    peerKey: join(pkiDir, 'peer.key'),
  };
}

const memberNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const settingNamePattern = /^[A-Z][A-Z0-9_]*$/;

/** Settings the env file renders itself; `settings` may not set them a second time. */
const renderedSettings = new Set([
  'NAME', 'DATA_DIR', 'LISTEN_CLIENT_URLS', 'ADVERTISE_CLIENT_URLS', 'LISTEN_PEER_URLS', 'INITIAL_ADVERTISE_PEER_URLS',
  'INITIAL_CLUSTER', 'INITIAL_CLUSTER_STATE', 'INITIAL_CLUSTER_TOKEN', 'DISCOVERY', 'DISCOVERY_SRV', 'DISCOVERY_SRV_NAME',
  'DNS_SERVER', 'CERT_FILE', 'KEY_FILE', 'TRUSTED_CA_FILE', 'CLIENT_CERT_AUTH', 'PEER_CERT_FILE', 'PEER_KEY_FILE',
  'PEER_TRUSTED_CA_FILE', 'PEER_CLIENT_CERT_AUTH',
]);

function checkUrls(what: string, urls: readonly string[], required: boolean): void {
  if (required && urls.length === 0) throw new AgentInputError(`spec: ${what} is empty`);
  for (const u of urls) {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw new AgentInputError(`spec: ${what}: ${JSON.stringify(u)} is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AgentInputError(`spec: ${what}: ${u} is neither http nor https`);
    if (url.port === '') throw new AgentInputError(`spec: ${what}: ${u} has no port`);
  }
}

function checkTls(what: string, urls: readonly string[], tls: TlsFiles | undefined): void {
  const https = urls.some((u) => u.startsWith('https:'));
  if (https && (tls === undefined || tls.certPem === '' || tls.keyPem === '' || tls.caPem === '')) {
    throw new AgentInputError(`spec: ${what} are https but the spec has no ${what === 'client URLs' ? 'client' : 'peer'} certificate, key and CA`);
  }
}

function noNewline(what: string, value: string): void {
  if (/[\r\n]/.test(value)) throw new AgentInputError(`spec: ${what} may not contain a line break`);
}

/** Checks a spec received from a caller; throws AgentInputError naming the first problem. */
export function checkSpec(spec: NodeSpec | undefined, availableRuntimes: readonly string[]): NodeSpec {
  if (spec === undefined) throw new AgentInputError('spec: missing');
  if (!memberNamePattern.test(spec.memberName)) {
    throw new AgentInputError(`spec: member name ${JSON.stringify(spec.memberName)} must be 1-63 letters, digits, '.', '_' or '-'`);
  }
  if (!availableRuntimes.includes(spec.runtime)) {
    throw new AgentInputError(`spec: runtime ${JSON.stringify(spec.runtime)} is not available on this agent (it runs: ${availableRuntimes.join(', ')})`);
  }
  if (spec.runtime === 'docker' && spec.image === '') throw new AgentInputError('spec: the docker runtime needs an image');
  checkUrls('listen client URLs', spec.listenClientUrls, true);
  checkUrls('advertise client URLs', spec.advertiseClientUrls, true);
  checkUrls('listen peer URLs', spec.listenPeerUrls, true);
  checkUrls('initial advertise peer URLs', spec.initialAdvertisePeerUrls, true);
  checkTls('client URLs', [...spec.listenClientUrls, ...spec.advertiseClientUrls], spec.clientTls);
  checkTls('peer URLs', [...spec.listenPeerUrls, ...spec.initialAdvertisePeerUrls], spec.peerTls);
  if (spec.initialClusterState !== 'new' && spec.initialClusterState !== 'existing') {
    throw new AgentInputError(`spec: initial cluster state must be "new" or "existing", not ${JSON.stringify(spec.initialClusterState)}`);
  }
  const sources = [spec.initialCluster, spec.discovery, spec.discoverySrv].filter((s) => s !== '').length;
  if (sources !== 1) throw new AgentInputError('spec: exactly one of initial cluster, discovery URL and DNS SRV domain must be given');
  if (spec.dnsServer !== '' && spec.runtime !== 'kvctl') {
    throw new AgentInputError(`spec: a DNS server can be chosen for the kvctl runtime only; the ${spec.runtime} runtime uses the host's resolver (/etc/resolv.conf)`);
  }
  for (const [what, value] of Object.entries({
    'initial cluster': spec.initialCluster, token: spec.initialClusterToken, discovery: spec.discovery,
    'discovery SRV domain': spec.discoverySrv, 'discovery SRV name': spec.discoverySrvName, 'DNS server': spec.dnsServer, image: spec.image,
  })) noNewline(what, value);
  for (const [name, value] of Object.entries(spec.settings)) {
    if (!settingNamePattern.test(name)) throw new AgentInputError(`spec: setting ${JSON.stringify(name)} is not an ETCD_* variable name without the prefix (e.g. HEARTBEAT_INTERVAL)`);
    if (renderedSettings.has(name)) throw new AgentInputError(`spec: setting ${name} is part of the spec itself; set it there`);
    noNewline(`setting ${name}`, value);
  }
  return spec;
}

/** The values of templates/etcd.env for a spec, with the member's files at `layout`. */
export function envValues(spec: NodeSpec, layout: MemberLayout, agentName: string): Record<string, string> {
  const pki = memberPkiFiles(layout.pkiDir);
  const clientTls = spec.clientTls !== undefined;
  const peerTls = spec.peerTls !== undefined;
  return {
    agent: agentName,
    name: spec.memberName,
    dataDir: layout.dataDir,
    listenClientUrls: spec.listenClientUrls.join(','),
    advertiseClientUrls: spec.advertiseClientUrls.join(','),
    listenPeerUrls: spec.listenPeerUrls.join(','),
    initialAdvertisePeerUrls: spec.initialAdvertisePeerUrls.join(','),
    initialCluster: spec.initialCluster,
    initialClusterState: spec.initialClusterState,
    initialClusterToken: spec.initialClusterToken,
    discovery: spec.discovery,
    discoverySrv: spec.discoverySrv,
    discoverySrvName: spec.discoverySrvName,
    dnsServer: spec.dnsServer,
    certFile: clientTls ? pki.cert : '',
    keyFile: clientTls ? pki.key : '',
    trustedCaFile: clientTls ? pki.ca : '',
    clientCertAuth: clientTls ? 'true' : '',
    peerCertFile: peerTls ? pki.peerCert : '',
    peerKeyFile: peerTls ? pki.peerKey : '',
    peerTrustedCaFile: peerTls ? pki.ca : '',
    peerClientCertAuth: peerTls ? 'true' : '',
    settings: Object.entries(spec.settings)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `ETCD_${k}=${v}`)
      .join('\n'),
  };
}

/** Whether two specs describe the same member the same way (Configure is idempotent for an equal spec). */
export function sameSpec(a: NodeSpec, b: NodeSpec): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(spec: NodeSpec): unknown {
  return { ...spec, settings: Object.fromEntries(Object.entries(spec.settings).sort(([x], [y]) => x.localeCompare(y))) };
}
