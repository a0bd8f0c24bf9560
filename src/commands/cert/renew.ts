import { Flags } from '@oclif/core';

import { BaseCommand } from '../../cli/base-command.js';
import { type RenewedCertificate, daysLeftText, maxDays, renewCertificate, sanText, shortTime } from '../../pki/index.js';

export default class CertRenew extends BaseCommand<RenewedCertificate> {
  static override summary = 'Re-issues a certificate with the same names, profile and common name, and a new key.';

  static override description = `Replaces <name>.crt and <name>.key in --dir with a new key and certificate signed \
by the directory's CA, keeping the subject CN, the SANs and the profile. The lifetime is the old one unless --days \
is given. The new pair is written completely before it replaces the old one, so an interrupted renewal never \
leaves a certificate that does not match its key. The member (or client) must be restarted to load it.`;

  static override examples = ['<%= config.bin %> <%= command.id %> --dir ./pki --name infra0', '<%= config.bin %> <%= command.id %> --dir ./pki --name root --days 90'];

  static override flags = {
    dir: Flags.string({ description: 'PKI directory holding ca.crt and ca.key', required: true, env: 'KVCTL_PKI_DIR' }),
    name: Flags.string({ description: 'the certificate to renew (<name>.crt)', required: true }),
    days: Flags.integer({ description: "lifetime in days (default: the old certificate's)", min: 1, max: maxDays }),
  };

  async run(): Promise<RenewedCertificate> {
    const { flags } = await this.parse(CertRenew);
    const renewed = await renewCertificate(flags.dir, flags.name, { days: flags.days });
    const c = renewed.certificate;
    this.log(`Renewed ${renewed.certFile} and ${renewed.keyFile} (${renewed.profile}, ${c.subject}, SANs ${sanText(c)}).`);
    this.log(`New serial ${c.serial}, valid until ${shortTime(c.notAfter)} (${daysLeftText(c)}); it replaces serial ${renewed.previous.serial} (until ${shortTime(renewed.previous.notAfter)}).`);
    this.log('Restart the member or client that uses it to load the new pair.');
    return renewed;
  }
}
