/**
 * TLS failures in Go's words. Node reports them in OpenSSL's (`sslv3 alert bad certificate`, `unable to
 * verify the first certificate`); etcd and etcdctl, and so the runbooks and scripts written for them,
 * use Go's crypto/tls and crypto/x509 texts (`remote error: tls: bad certificate`, `x509: certificate
 * signed by unknown authority`). Used by the client (its errors) and the node (its `rejected connection`
 * log lines). Pure text mapping: no I/O.
 */

/** OpenSSL's alert descriptions (SSL_alert_desc_string_long) → Go's (crypto/tls alert.go). */
const ALERTS: ReadonlyArray<readonly [RegExp, string]> = [
  [/alert bad certificate/i, 'bad certificate'],
  [/alert unsupported certificate/i, 'unsupported certificate'],
  [/alert certificate revoked/i, 'revoked certificate'],
  [/alert certificate expired/i, 'expired certificate'],
  [/alert certificate unknown/i, 'unknown certificate'],
  [/alert unknown ca/i, 'unknown certificate authority'],
  [/alert certificate required/i, 'certificate required'],
  [/alert handshake failure/i, 'handshake failure'],
  [/alert decrypt error/i, 'error decrypting message'],
  [/alert protocol version/i, 'protocol version not supported'],
  [/alert no application protocol/i, 'no application protocol'],
  [/alert access denied/i, 'access denied'],
  [/alert internal error/i, 'internal error'],
];

/** OpenSSL's certificate verification results (X509_verify_cert_error_string, Node's error codes) → Go's x509 errors. */
const VERIFY: ReadonlyArray<readonly [RegExp, string]> = [
  [
    /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|unable to verify the first certificate|unable to get (local )?issuer certificate|self[- ]signed certificate/i,
    'x509: certificate signed by unknown authority',
  ],
  [/CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|certificate has expired|certificate is not yet valid/i, 'x509: certificate has expired or is not yet valid'],
  [/CERT_REVOKED|certificate revoked/i, 'x509: certificate is revoked'],
  [/unsupported certificate purpose|INVALID_PURPOSE/i, 'x509: certificate specifies an incompatible key usage'],
];

/**
 * Go's text for a TLS failure that Node or OpenSSL described, or undefined when `message` is not one
 * (a refused connection, a timeout): an alert from the other side is `remote error: tls: <alert>`, a
 * certificate that failed verification is x509's error, plaintext where TLS was expected is Go's
 * "first record does not look like a TLS handshake".
 */
export function goTlsError(message: string): string | undefined {
  for (const [re, text] of ALERTS) if (re.test(message)) return `remote error: tls: ${text}`;
  for (const [re, text] of VERIFY) if (re.test(message)) return text;
  if (/wrong version number|packet length too long|http request|record layer failure/i.test(message)) {
    return 'tls: first record does not look like a TLS handshake';
  }
  return undefined;
}
