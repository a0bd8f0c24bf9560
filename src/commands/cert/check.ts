import { Flags } from '@oclif/core';

import { BaseCommand } from '../../cli/base-command.js';
import { ExitCode } from '../../cli/exit-codes.js';
import { GoParseError, parseGoDuration } from '../../base/go-format.js';
import { defaultEndpoint } from '../../client/index.js';
import { type EndpointCheck, checkEndpoint, checkLines } from '../../pki/index.js';

export default class CertCheck extends BaseCommand<EndpointCheck[]> {
  static override summary = 'Connects to endpoints over TLS and says exactly what is wrong with their certificates.';

  static override description = `Dials each endpoint with --cacert (and --cert/--key when the server requires \
client certificates), as etcdctl would, and checks the server's certificate itself: its lifetime, whether its SANs \
cover the address dialled (naming the missing SAN), whether --cacert holds the CA that signed it (naming both), and \
its key usage; then whether the server accepted or refused the client certificate. Problems start with the message \
etcdctl would print (Go's x509/tls text). Exits with 1 when any endpoint has a problem.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --endpoints https://10.0.0.1:2379,https://10.0.0.2:2379 --cacert pki/ca.crt --cert pki/root.crt --key pki/root.key',
    '<%= config.bin %> <%= command.id %> --endpoints 10.0.0.1:2380 --cacert pki/ca.crt --cert pki/infra1-peer.crt --key pki/infra1-peer.key',
  ];

  static override flags = {
    endpoints: Flags.string({ description: 'endpoints to check, comma separated (host:port or https://host:port)', default: defaultEndpoint, env: 'ETCDCTL_ENDPOINTS' }),
    cacert: Flags.string({ description: 'verify the servers with this CA bundle', required: true, env: 'ETCDCTL_CACERT' }),
    cert: Flags.string({ description: 'client certificate to offer', env: 'ETCDCTL_CERT', dependsOn: ['key'] }),
    key: Flags.string({ description: 'key of the client certificate', env: 'ETCDCTL_KEY', dependsOn: ['cert'] }),
    'server-name': Flags.string({ description: 'verify the server certificate for this name instead of each endpoint host' }),
    'dial-timeout': Flags.custom<number>({
      description: 'time allowed per endpoint (Go duration)',
      default: async () => 5000,
      defaultHelp: async () => '5s',
      parse: async (input) => {
        const ms = parseGoDuration(input);
        if (ms <= 0) throw new GoParseError(`${input}: must be positive`);
        return ms;
      },
    })(),
  };

  async run(): Promise<EndpointCheck[]> {
    const { flags } = await this.parse(CertCheck);
    const endpoints = flags.endpoints.split(',').map((e) => e.trim()).filter((e) => e !== '');
    const results: EndpointCheck[] = [];
    for (const endpoint of endpoints) {
      const result = await checkEndpoint(endpoint, {
        ca: flags.cacert,
        cert: flags.cert,
        key: flags.key,
        serverName: flags['server-name'],
        timeoutMs: flags['dial-timeout'],
      });
      results.push(result);
      for (const line of checkLines(result)) this.log(line);
    }
    if (results.some((r) => !r.ok)) {
      if (this.jsonEnabled()) this.logJson(results);
      this.exit(ExitCode.ExitError);
    }
    return results;
  }
}
