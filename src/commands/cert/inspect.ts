import { Args, Flags } from '@oclif/core';

import { BaseCommand } from '../../cli/base-command.js';
import { type CertificateInfo, certificateLines, inspectCertificate } from '../../pki/index.js';

export default class CertInspect extends BaseCommand<CertificateInfo> {
  static override summary = 'Shows what a certificate is: subject, SANs, issuer, lifetime, days left, usages.';

  static override description = `Reads the first certificate of a PEM file (any certificate, not only kvctl's) and \
prints its subject, issuer, serial, profile and extended key usages, SANs, validity and SHA-256 fingerprint. A \
warning follows on stderr when it has expired, is not valid yet, or has fewer than 30 days left.`;

  static override examples = ['<%= config.bin %> <%= command.id %> ./pki/infra0.crt', '<%= config.bin %> <%= command.id %> ./pki/infra0.crt --json'];

  static override args = { file: Args.string({ description: 'PEM certificate file', required: true }) };

  static override flags = {
    'write-out': Flags.option({ char: 'w', description: 'output format (--json is -w json)', options: ['simple', 'json'] as const, default: 'simple' as const })(),
  };

  async run(): Promise<CertificateInfo> {
    const { args, flags } = await this.parse(CertInspect);
    const info = await inspectCertificate(args.file);
    if (flags['write-out'] === 'json' && !this.jsonEnabled()) {
      this.log(JSON.stringify(info, null, 2));
      return info;
    }
    for (const line of certificateLines(info, args.file)) this.log(line);
    for (const w of info.warnings) this.logToStderr(`warning: ${w}`);
    return info;
  }
}
