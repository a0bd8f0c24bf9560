/**
 * etcd's --auto-tls and --peer-auto-tls: when TLS is asked for without certificate files, a self-signed
 * certificate for the hosts of the listen URLs is made once, under <data-dir>/fixtures/client/ and
 * <data-dir>/fixtures/peer/ (`cert.pem`, `key.pem`, etcd's names and places), and reused at every restart.
 * Such certificates prove nothing about who is talking: peers do not verify them (as etcd's
 * InsecureSkipVerify), and there is no CA to check client certificates against. They encrypt; for identity,
 * issue real ones with `kvctl cert`.
 */
import { join } from 'node:path';

import type { Logger } from '../base/logger.js';
import { ensureSelfSignedPair } from '../pki/index.js';
import { type ServerConfig, type TlsInfo, tlsInfoEmpty } from './kvserver/config.js';

/** The config with auto-TLS files filled in where they apply (a copy; `config` is not changed). */
export async function withAutoTls(config: ServerConfig, logger: Logger): Promise<ServerConfig> {
  let out = config;
  if (config.autoTls && tlsInfoEmpty(config.clientTls) && config.listenClientUrls.some((u) => u.protocol === 'https:')) {
    out = { ...out, clientTls: await selfCert(config, 'client', config.listenClientUrls, config.clientTls, logger) };
  } else if (config.autoTls && !tlsInfoEmpty(config.clientTls)) {
    logger.warn('ignoring --auto-tls: --cert-file and --key-file are given');
  }
  if (config.peerAutoTls && tlsInfoEmpty(config.peerTls) && config.listenPeerUrls.some((u) => u.protocol === 'https:')) {
    out = { ...out, peerTls: await selfCert(config, 'peer', config.listenPeerUrls, config.peerTls, logger) };
  } else if (config.peerAutoTls && !tlsInfoEmpty(config.peerTls)) {
    logger.warn('ignoring --peer-auto-tls: --peer-cert-file and --peer-key-file are given');
  }
  return out;
}

/** Whether the peer TLS settings in `config` (after withAutoTls) are auto-TLS ones, which peers cannot verify. */
export function isAutoPeerTls(config: ServerConfig): boolean {
  return config.peerAutoTls && config.peerTls.certFile === join(fixturesDir(config, 'peer'), 'cert.pem');
}

function fixturesDir(config: ServerConfig, side: 'client' | 'peer'): string {
  return join(config.dataDir, 'fixtures', side);
}

async function selfCert(config: ServerConfig, side: 'client' | 'peer', urls: readonly URL[], given: TlsInfo, logger: Logger): Promise<TlsInfo> {
  const dir = fixturesDir(config, side);
  const hosts = [...new Set(urls.map((u) => u.hostname.replace(/^\[|\]$/g, '')))];
  const { certFile, keyFile, created } = await ensureSelfSignedPair(dir, { hosts, days: 365 });
  if (created) logger.info(`made a self-signed ${side} certificate for ${hosts.join(', ')} in ${dir} (--${side === 'peer' ? 'peer-' : ''}auto-tls)`);
  if (given.clientCertAuth && given.trustedCaFile === '') {
    logger.warn(`--${side === 'peer' ? 'peer-' : ''}client-cert-auth needs --${side === 'peer' ? 'peer-' : ''}trusted-ca-file: with auto-TLS no ${side} certificate can be verified; ignoring it`);
    return { ...given, certFile, keyFile, clientCertAuth: false };
  }
  return { ...given, certFile, keyFile };
}
