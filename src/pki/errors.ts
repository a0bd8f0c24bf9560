/**
 * The certificate authority's errors. Every message starts with "pki: ", names the file or the input at fault,
 * and says what the operator can do next.
 */
import { KvError } from '../base/errors.js';

/** A name, address, DNS name, lifetime or profile that cannot go into a certificate. */
export class PkiInputError extends KvError {
  readonly code = 'PKI_INVALID_INPUT';
}

/** A CA or certificate would be overwritten; kvctl never replaces key material it did not mean to. */
export class PkiExistsError extends KvError {
  readonly code = 'PKI_EXISTS';
}

/** The CA, a certificate or its key is not where it should be. */
export class PkiNotFoundError extends KvError {
  readonly code = 'PKI_NOT_FOUND';
}

/** A file that should hold a PEM certificate or key does not, or a certificate kvctl cannot work with. */
export class PkiFormatError extends KvError {
  readonly code = 'PKI_BAD_FORMAT';
}

/** A certificate that does not belong with the CA or key it is used with. */
export class PkiMismatchError extends KvError {
  readonly code = 'PKI_MISMATCH';
}
