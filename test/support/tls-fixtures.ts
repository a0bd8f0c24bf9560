/**
 * Test certificates made with the `openssl` CLI (3.0), independent of kvctl's own PKI code, in a temporary
 * directory that `remove()` deletes (and that is deleted anyway when the test process ends):
 *
 *     const pki = makeTlsFixtures({ serverIps: ['127.0.0.1'] });
 *     after(() => pki.remove());
 *     const alice = pki.client('alice');          // { cert, key } paths, CN=alice, signed by pki.ca
 *
 * - `ca`: a self-signed CA (basicConstraints CA:TRUE, keyCertSign).
 * - `server`: serverAuth (and clientAuth, as etcd's own examples do) with IP SANs `serverIps` and DNS SANs
 *   `serverDns`, CN `kvctl-server`.
 * - `client(cn)`: clientAuth, CN = `cn` (etcd's CN-as-user), no SANs.
 * - `foreignClient`: a client certificate (CN=root) signed by another CA (`foreignCa`) that the node does not trust.
 * - `expiredClient`: a client certificate (CN=root) signed by `ca` that expired in 2020 (made with `openssl ca`,
 *   which takes explicit start and end dates; `openssl x509 -req` in 3.0 takes only a number of days).
 * - `revokedClient` (CN=root, signed by `ca`) and `crl`, a CRL by `ca` that revokes it.
 *
 * Keys are EC P-256 (PKCS#8 PEM), which both Node and Go's crypto/tls load, and fast to make.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { reapDir, releaseDir } from './reaper.js';

export type CertPair = { readonly cert: string; readonly key: string };

export interface TlsFixtures {
  readonly dir: string;
  readonly ca: CertPair;
  readonly server: CertPair;
  readonly foreignCa: CertPair;
  readonly foreignClient: CertPair;
  readonly expiredClient: CertPair;
  /** A client certificate (CN=root) signed by `ca` and revoked in `crl`. */
  readonly revokedClient: CertPair;
  /** A PEM CRL by `ca` that revokes `revokedClient`. */
  readonly crl: string;
  /** A client certificate with CN `cn` signed by `ca` (made once per name). */
  client(cn: string): CertPair;
  /** A server certificate signed by `ca` for exactly these SANs (made once per name). */
  serverFor(name: string, sans: { ips?: readonly string[]; dns?: readonly string[] }): CertPair;
  remove(): void;
}

function openssl(args: readonly string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

function makeCa(dir: string, name: string, cn: string): CertPair {
  const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  openssl(
    [
      'req', '-x509', ...EC, '-keyout', pair.key, '-out', pair.cert, '-days', '2', '-subj', `/CN=${cn}`,
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  return pair;
}

/** A leaf signed by `ca` with the given extensions (an openssl extension-file body). */
function makeLeaf(dir: string, ca: CertPair, name: string, cn: string, extensions: string): CertPair {
  const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, extensions);
  openssl(['req', '-new', ...EC, '-keyout', pair.key, '-out', csr, '-subj', `/CN=${cn}`], dir);
  openssl(
    ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', pair.cert, '-days', '2', '-extfile', ext],
    dir,
  );
  return pair;
}

function sanLine(ips: readonly string[], dns: readonly string[]): string {
  const names = [...ips.map((ip) => `IP:${ip}`), ...dns.map((d) => `DNS:${d}`)];
  return names.length > 0 ? `subjectAltName=${names.join(',')}\n` : '';
}

const SERVER_EXT = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n';
const CLIENT_EXT = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n';

/**
 * `openssl ca` over `ca` (a database in `dir/<name>`): the one openssl command that takes explicit validity
 * dates and keeps the record of issued certificates that revoking one and making a CRL need.
 */
function caDatabase(dir: string, ca: CertPair, name: string) {
  const db = join(dir, name);
  mkdirSync(db, { recursive: true });
  writeFileSync(join(db, 'index.txt'), '');
  writeFileSync(join(db, 'serial'), '1000\n');
  writeFileSync(join(db, 'crlnumber'), '01\n');
  const conf = join(db, 'ca.cnf');
  writeFileSync(
    conf,
    [
      '[ca]', 'default_ca = db', '',
      '[db]', `dir = ${db}`, 'database = $dir/index.txt', 'serial = $dir/serial', 'crlnumber = $dir/crlnumber',
      'new_certs_dir = $dir', 'default_md = sha256', 'default_days = 2', 'default_crl_days = 2', 'policy = anything',
      'x509_extensions = leaf', 'unique_subject = no', '',
      '[anything]', 'commonName = supplied', '',
      '[leaf]', ...CLIENT_EXT.trim().split('\n'), '',
    ].join('\n'),
  );
  const base = ['-batch', '-config', conf, '-cert', ca.cert, '-keyfile', ca.key];
  return {
    /** A client certificate with CN `cn`, valid between the given dates (openssl's YYYYMMDDHHMMSSZ) or for 2 days. */
    issue(file: string, cn: string, dates?: { start: string; end: string }): CertPair {
      const pair = { cert: join(dir, `${file}.crt`), key: join(dir, `${file}.key`) };
      const csr = join(dir, `${file}.csr`);
      openssl(['req', '-new', ...EC, '-keyout', pair.key, '-out', csr, '-subj', `/CN=${cn}`], dir);
      const validity = dates !== undefined ? ['-startdate', dates.start, '-enddate', dates.end] : [];
      openssl(['ca', ...base, '-in', csr, '-out', pair.cert, '-notext', ...validity], dir);
      return pair;
    },
    revoke(pair: CertPair): void {
      openssl(['ca', ...base, '-revoke', pair.cert], dir);
    },
    /** A PEM CRL of what was revoked so far. */
    crl(file: string): string {
      const path = join(dir, file);
      openssl(['ca', ...base, '-gencrl', '-out', path], dir);
      return path;
    },
  };
}

export function makeTlsFixtures(opts: { serverIps?: readonly string[]; serverDns?: readonly string[] } = {}): TlsFixtures {
  const dir = mkdtempSync(join(tmpdir(), 'kvctl-tls-'));
  reapDir(dir);
  try {
    const ca = makeCa(dir, 'ca', 'kvctl test CA');
    const server = makeLeaf(dir, ca, 'server', 'kvctl-server', SERVER_EXT + sanLine(opts.serverIps ?? ['127.0.0.1'], opts.serverDns ?? []));
    const foreignCa = makeCa(dir, 'foreign-ca', 'some other CA');
    const foreignClient = makeLeaf(dir, foreignCa, 'foreign-client', 'root', CLIENT_EXT);
    const db = caDatabase(dir, ca, 'ca-db');
    const expiredClient = db.issue('expired-client', 'root', { start: '20200101000000Z', end: '20200102000000Z' });
    const revokedClient = db.issue('revoked-client', 'root');
    db.revoke(revokedClient);
    const crl = db.crl('ca.crl');
    const clients = new Map<string, CertPair>();
    const servers = new Map<string, CertPair>();
    return {
      dir,
      ca,
      server,
      foreignCa,
      foreignClient,
      expiredClient,
      revokedClient,
      crl,
      client(cn) {
        let pair = clients.get(cn);
        if (pair === undefined) {
          pair = makeLeaf(dir, ca, `client-${clients.size}`, cn, CLIENT_EXT);
          clients.set(cn, pair);
        }
        return pair;
      },
      serverFor(name, sans) {
        let pair = servers.get(name);
        if (pair === undefined) {
          pair = makeLeaf(dir, ca, `server-${name}`, 'kvctl-server', SERVER_EXT + sanLine(sans.ips ?? [], sans.dns ?? []));
          servers.set(name, pair);
        }
        return pair;
      },
      remove() {
        rmSync(dir, { recursive: true, force: true });
        releaseDir(dir);
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    releaseDir(dir);
    throw err;
  }
}
