/**
 * kvctl's certificate authority: a CA per PKI directory, server/peer/client certificates signed by it, their
 * inspection and renewal, the self-signed certificates of `--auto-tls`, and a TLS endpoint check that says
 * exactly what is wrong. The only entry other modules import.
 */
export { type CaFiles, type InitCaOptions, defaultCaDays, initCa } from './ca.js';
export { type CheckOptions, type CheckProblem, type CheckProblemKind, type EndpointCheck, checkEndpoint, parseEndpoint } from './check.js';
export { PkiExistsError, PkiFormatError, PkiInputError, PkiMismatchError, PkiNotFoundError } from './errors.js';
export { type CertificateInfo, type CertificateProfile, expiryWarningDays, hostsNotCovered, inspectCertificate } from './inspect.js';
export {
  type CertificatePair,
  type EnsuredMemberCertificates,
  type IssueOptions,
  type IssuedCertificate,
  type MemberCertificateOptions,
  type MemberCertificates,
  type RenewedCertificate,
  type SelfSignedOptions,
  completePendingRenewals,
  defaultCertDays,
  ensureMemberCertificates,
  ensureSelfSignedPair,
  issueCertificate,
  issueMemberCertificates,
  peerCertificateName,
  renewCertificate,
  selfSignedCertificate,
} from './issue.js';
export { type CertificateListEntry, type KeyState, listCertificates } from './list.js';
export { type Profile, caCertFile, caKeyFile, maxDays, profiles } from './names.js';
export { certificateLines, checkLines, daysLeftText, listHeader, listRow, profileText, sanText, shortTime } from './render.js';
// Crash-safe writes of key material, also used by the agent for the files it installs.
export { certFileMode, ensureDir, exists, keyFileMode, replaceFile } from './files.js';
