import { Flags } from '@oclif/core';

import { BaseCommand } from '../../../cli/base-command.js';
import { type CaFiles, daysLeftText, defaultCaDays, initCa, maxDays, shortTime } from '../../../pki/index.js';

export default class CertCaInit extends BaseCommand<CaFiles> {
  static override summary = 'Creates a certificate authority (ca.crt, ca.key) in a PKI directory.';

  static override description = `Generates an RSA-2048 key and a self-signed CA certificate (CA:true, pathlen 0, \
keyCertSign) and writes them as ca.crt and ca.key (mode 0600) in --dir, which is created with mode 0700 if it does \
not exist. An existing CA is never overwritten: every certificate it signed would stop verifying.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --dir ./pki',
    '<%= config.bin %> <%= command.id %> --dir ./pki --cn "infra CA" --days 3650',
  ];

  static override flags = {
    dir: Flags.string({ description: 'PKI directory for ca.crt and ca.key', required: true, env: 'KVCTL_PKI_DIR' }),
    cn: Flags.string({ description: 'common name of the CA (default: kvctl CA <random id>)' }),
    days: Flags.integer({ description: 'lifetime in days', default: defaultCaDays, min: 1, max: maxDays }),
  };

  async run(): Promise<CaFiles> {
    const { flags } = await this.parse(CertCaInit);
    const ca = await initCa(flags.dir, { commonName: flags.cn, days: flags.days });
    const c = ca.certificate;
    this.log(`Created CA ${c.subject} in ${ca.dir}: ${ca.certFile}, ${ca.keyFile} (mode 0600).`);
    this.log(`Valid until ${shortTime(c.notAfter)} (${daysLeftText(c)}). Keep ca.key secret: whoever holds it can join the cluster.`);
    this.log(`Next: kvctl cert issue --dir ${ca.dir} --profile server|peer|client --name <name> --ip <address> ...`);
    return ca;
  }
}
