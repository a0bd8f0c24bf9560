/**
 * Where a client command's endpoints come from, besides `--endpoints`: etcdctl 3.4's DNS SRV discovery
 * (`-d/--discovery-srv`, `--discovery-srv-name`, `--insecure-discovery`, and their ETCDCTL_* variables),
 * and kvctl's `--dns-server ip:port` (KVCTL_DNS_SERVER, shared with the agent), which real etcdctl does not
 * have: SRV records and endpoint host names are then resolved with that server instead of the system's.
 *
 * As etcdctl: the discovered endpoints replace `--endpoints`; when discovery finds none it can use (all
 * http, dropped by `--insecure-discovery=false`, each with "ignoring discovered insecure endpoint ..."),
 * `--endpoints` applies; both SRV lookups failing stops the command with exit code 1 and "dns lookup
 * errors: ... and ...". With `--insecure-discovery=false` the servers' certificates are checked against the
 * domain. One difference: etcdctl 3.4's `endpoint health|status|hashkv` without `--cluster` ignore
 * `--discovery-srv`; kvctl applies it to every client command.
 */
import { isIP } from 'node:net';

import { Flags } from '@oclif/core';

import { type NameResolver, SrvDiscoveryError, discoverClientEndpoints, parseEndpoints, resolverFor } from '../client/index.js';
import { CtlError } from './ctl-error.js';
import { ExitCode } from './exit-codes.js';

/** Go's strconv.ParseBool, as etcdctl reads `--insecure-discovery=false`. */
function parseGoBool(text: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  throw new CtlError(`invalid argument "${text}" for "--insecure-discovery" flag: strconv.ParseBool: parsing "${text}": invalid syntax`, ExitCode.ExitBadArgs);
}

export const discoveryFlags = {
  'discovery-srv': Flags.string({
    char: 'd',
    description: 'domain name to query for SRV records describing cluster endpoints',
    env: 'ETCDCTL_DISCOVERY_SRV',
    helpGroup: 'GLOBAL',
  }),
  'discovery-srv-name': Flags.string({
    description: 'service name to query when using DNS discovery',
    env: 'ETCDCTL_DISCOVERY_SRV_NAME',
    helpGroup: 'GLOBAL',
  }),
  'insecure-discovery': Flags.custom<boolean>({
    description: 'accept insecure SRV records describing cluster endpoints (--insecure-discovery=false drops http ones)',
    env: 'ETCDCTL_INSECURE_DISCOVERY',
    default: true,
    helpGroup: 'GLOBAL',
    parse: async (input) => parseGoBool(input),
  })(),
  'dns-server': Flags.string({
    description: 'kvctl only (etcdctl uses the system resolver): ip:port of the DNS server that SRV records and endpoint host names are resolved with',
    env: 'KVCTL_DNS_SERVER',
    helpGroup: 'GLOBAL',
  }),
};

export type DiscoveryFlags = {
  endpoints?: string | undefined;
  'discovery-srv'?: string | undefined;
  'discovery-srv-name'?: string | undefined;
  'insecure-discovery'?: boolean | undefined;
  'dns-server'?: string | undefined;
};

export type EndpointSource = {
  /** The discovered endpoints, when discovery found some (they replace --endpoints). */
  readonly endpoints?: readonly string[];
  /** Endpoint host names resolved here (dialled at these addresses, not resolved again by the system). */
  readonly addresses: ReadonlyMap<string, string>;
  /** The name servers' certificates must hold (the SRV domain, with --insecure-discovery=false). */
  readonly serverName?: string;
};

function resolverOf(dnsServer: string): NameResolver {
  try {
    return resolverFor(dnsServer);
  } catch (err) {
    throw new CtlError((err as Error).message, ExitCode.ExitBadArgs, { cause: err });
  }
}

/** Endpoints and addresses for the discovery flags; undefined when neither discovery nor --dns-server is used. */
export async function endpointSourceOf(flags: DiscoveryFlags, warn: (line: string) => void): Promise<EndpointSource | undefined> {
  const domain = flags['discovery-srv'] ?? '';
  const dnsServer = flags['dns-server'] ?? '';
  if (domain === '' && dnsServer === '') return undefined;
  const resolver = resolverOf(dnsServer);
  const insecure = flags['insecure-discovery'] !== false;
  const addresses = new Map<string, string>();
  let endpoints: readonly string[] | undefined;
  if (domain !== '') {
    let found;
    try {
      found = await discoverClientEndpoints(domain, { serviceName: flags['discovery-srv-name'] ?? '', resolver, insecure });
    } catch (err) {
      if (err instanceof SrvDiscoveryError) throw new CtlError(err.message, ExitCode.ExitError, { cause: err });
      throw err;
    }
    for (const ignored of found.ignored) warn(`ignoring discovered insecure endpoint ${JSON.stringify(ignored)}`);
    if (found.endpoints.length > 0) endpoints = found.endpoints;
    for (const [host, address] of found.addresses) addresses.set(host, address);
  }
  if (dnsServer !== '') {
    // Every host name is resolved with --dns-server, never left to the system's resolver.
    for (const ep of parseEndpoints(endpoints ?? flags.endpoints ?? '')) {
      if (isIP(ep.host) !== 0 || addresses.has(ep.host)) continue;
      try {
        const [first] = await resolver.resolveHost(ep.host);
        if (first !== undefined) addresses.set(ep.host, first);
      } catch (err) {
        throw new CtlError((err as Error).message, ExitCode.ExitBadConnection, { cause: err });
      }
    }
  }
  return {
    ...(endpoints !== undefined ? { endpoints } : {}),
    addresses,
    ...(domain !== '' && !insecure ? { serverName: domain } : {}),
  };
}
