import { Flags } from '@oclif/core';

import { BaseCommand } from '../../cli/base-command.js';
import { renderTable } from '../../cli/table.js';
import { type CertificateListEntry, listCertificates, listHeader, listRow, shortTime } from '../../pki/index.js';

export default class CertList extends BaseCommand<CertificateListEntry[]> {
  static override summary = 'Lists the certificates of a PKI directory, with days left and what needs attention.';

  static override description = `Shows every *.crt in --dir: profile, subject, SANs, expiry and days left, whether \
its key file is there and matches, and whether the directory's CA signed it. Warnings (expired, under 30 days left, \
missing or wrong key, another CA, a key readable by others) follow on stderr. -w simple prints one comma-separated \
line per certificate: name, profile, subject, not after, days left, key, signed by CA.`;

  static override examples = ['<%= config.bin %> <%= command.id %> --dir ./pki', '<%= config.bin %> <%= command.id %> --dir ./pki -w simple'];

  static override flags = {
    dir: Flags.string({ description: 'PKI directory', required: true, env: 'KVCTL_PKI_DIR' }),
    'write-out': Flags.option({ char: 'w', description: 'output format (--json is -w json)', options: ['table', 'simple', 'json'] as const, default: 'table' as const })(),
  };

  async run(): Promise<CertificateListEntry[]> {
    const { flags } = await this.parse(CertList);
    const entries = await listCertificates(flags.dir);
    if (flags['write-out'] === 'json' && !this.jsonEnabled()) {
      this.log(JSON.stringify(entries, null, 2));
      return entries;
    }
    if (entries.length === 0) {
      this.logToStderr(`No certificates in ${flags.dir}: create a CA with "kvctl cert ca init --dir ${flags.dir}".`);
      return entries;
    }
    if (flags['write-out'] === 'simple') {
      for (const e of entries) {
        const c = e.certificate;
        this.log(
          c === undefined
            ? `${e.name}, unreadable, ${e.error ?? ''}`
            : `${e.name}, ${c.profile}, ${c.subject}, ${shortTime(c.notAfter)}, ${c.daysLeft}, ${e.key}, ${e.signedByCa ?? 'no CA'}`,
        );
      }
    } else {
      this.log(renderTable(entries.map(listRow), listHeader));
    }
    for (const e of entries) {
      const hint = e.certificate !== undefined && e.certificate.daysLeft < 30 && e.name !== 'ca' ? `; renew it with "kvctl cert renew --dir ${flags.dir} --name ${e.name}"` : '';
      for (const w of e.warnings) this.logToStderr(`warning: ${e.name}: ${w}${hint}`);
    }
    return entries;
  }
}
