import { Flags } from '@oclif/core';

import { BaseCommand } from '../../cli/base-command.js';
import { type IssuedCertificate, daysLeftText, defaultCertDays, issueCertificate, maxDays, profiles, sanText, shortTime } from '../../pki/index.js';

/** How a certificate of each profile is handed to etcd, etcdctl or kvctl. */
function usageHint(issued: IssuedCertificate, caFile: string): string {
  switch (issued.profile) {
    case 'server':
      return `Use it on a member's client listener: --cert-file ${issued.certFile} --key-file ${issued.keyFile} --trusted-ca-file ${caFile} (with --client-cert-auth to require client certificates).`;
    case 'peer':
      return `Use it between members: --peer-cert-file ${issued.certFile} --peer-key-file ${issued.keyFile} --peer-trusted-ca-file ${caFile} --peer-client-cert-auth.`;
    case 'client':
      return `Use it as user ${issued.certificate.commonName ?? issued.name}: --cacert ${caFile} --cert ${issued.certFile} --key ${issued.keyFile}.`;
  }
}

export default class CertIssue extends BaseCommand<IssuedCertificate> {
  static override summary = "Issues a server, peer or client certificate signed by the PKI directory's CA.";

  static override description = `Writes <name>.crt and <name>.key (mode 0600) beside ca.crt. Profiles: server \
(serverAuth: a member's client listener), peer (serverAuth + clientAuth: between members), client (clientAuth; its \
common name is the etcd user name, as etcd's --client-cert-auth reads it). Server and peer certificates need every \
address (--ip) and name (--dns) clients use to reach the member. An existing certificate is not replaced: use \
kvctl cert renew.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --dir ./pki --profile server --name infra0 --ip 10.0.0.1 --ip 127.0.0.1 --dns infra0.example.com',
    '<%= config.bin %> <%= command.id %> --dir ./pki --profile peer --name infra0-peer --ip 10.0.0.1',
    '<%= config.bin %> <%= command.id %> --dir ./pki --profile client --name root',
  ];

  static override flags = {
    dir: Flags.string({ description: 'PKI directory holding ca.crt and ca.key', required: true, env: 'KVCTL_PKI_DIR' }),
    profile: Flags.option({ description: 'what the certificate is for', options: profiles, required: true })(),
    name: Flags.string({ description: 'file name stem (<name>.crt, <name>.key) and, unless --cn is given, the common name', required: true }),
    ip: Flags.string({ description: 'IP address SAN (repeatable)', multiple: true, default: [] }),
    dns: Flags.string({ description: 'DNS name SAN (repeatable)', multiple: true, default: [] }),
    days: Flags.integer({ description: 'lifetime in days', default: defaultCertDays, min: 1, max: maxDays }),
    cn: Flags.string({ description: 'common name (default: --name); for a client certificate, the etcd user name' }),
  };

  async run(): Promise<IssuedCertificate> {
    const { flags } = await this.parse(CertIssue);
    const issued = await issueCertificate(flags.dir, {
      profile: flags.profile,
      name: flags.name,
      ips: flags.ip,
      dns: flags.dns,
      days: flags.days,
      commonName: flags.cn,
    });
    const c = issued.certificate;
    this.log(`Issued ${issued.profile} certificate ${issued.certFile} (key ${issued.keyFile}, mode 0600).`);
    this.log(`Subject ${c.subject}, issuer ${c.issuer}, SANs ${sanText(c)}, usages ${c.extKeyUsage.join(', ')}.`);
    this.log(`Valid until ${shortTime(c.notAfter)} (${daysLeftText(c)}).`);
    this.log(usageHint(issued, `${flags.dir.replace(/\/$/, '')}/ca.crt`));
    return issued;
  }
}
