/**
 * What a failed callback attempt's error says when no answer could be read: the stored `last_error` and attempt-log
 * `error` a user reads through GET /v1/tasks/{id}, the CLI and the console. One format for all of them:
 *
 *   `<what failed>: <what happened, in words> (<code>)`
 *
 * where what failed is `network` (the connection), `dns` (the host name's lookup), `tls` (the handshake or the
 * receiver's certificate), `malformed answer` (the receiver answered, in bytes Node's HTTP parser refuses: the
 * network worked) or `invalid request` (Node refused to send the request). The code is Node's (an errno, an
 * OpenSSL verify code, llhttp's `HPE_…`), kept for searching the docs and the web. The words are ours, never
 * anything the receiver sent. Only the words depend on the code: retries, the circuit breaker and dead-lettering
 * read the result's status and refusal, never this text (docs/CALLBACKS.md lists the texts).
 */

/**
 * llhttp's errors on a response (Node 20's and 22's llhttp; `HPE_INVALID_METHOD` and `HPE_INVALID_URL` are a
 * request's only). Any other `HPE_` code reads `malformed answer: unreadable HTTP (HPE_…)`.
 */
const PARSER_ERRORS: Readonly<Record<string, string>> = {
  HPE_INVALID_CONSTANT: "not an HTTP status line",
  HPE_INVALID_VERSION: "invalid HTTP version",
  HPE_INVALID_STATUS: "invalid status code",
  HPE_INVALID_HEADER_TOKEN: "invalid character in a header",
  HPE_INVALID_CONTENT_LENGTH: "invalid Content-Length",
  HPE_UNEXPECTED_CONTENT_LENGTH: "Content-Length given more than once",
  HPE_INVALID_TRANSFER_ENCODING: "invalid Transfer-Encoding",
  HPE_INVALID_CHUNK_SIZE: "invalid chunk size",
  HPE_CHUNK_EXTENSIONS_OVERFLOW: "chunk extensions too large",
  HPE_HEADER_OVERFLOW: "headers too large",
  HPE_CR_EXPECTED: "line not ended by CR LF",
  HPE_LF_EXPECTED: "CR not followed by LF",
  HPE_UNEXPECTED_SPACE: "unexpected whitespace",
  HPE_STRICT: "violates HTTP/1.1 syntax",
  HPE_INVALID_EOF_STATE: "connection closed mid-answer",
  HPE_CLOSED_CONNECTION: "data after the answer that closed the connection",
};

/** Errors of the connection itself (libuv's errno names). */
const SOCKET_ERRORS: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ECONNABORTED: "connection aborted",
  EPIPE: "connection closed while sending",
  ETIMEDOUT: "connection timed out",
  EHOSTUNREACH: "host unreachable",
  EHOSTDOWN: "host down",
  ENETUNREACH: "network unreachable",
  ENETDOWN: "network down",
  EADDRNOTAVAIL: "no local address to connect from",
  EMFILE: "too many open connections in this process",
};

/** `dns.lookup`'s errors (getaddrinfo's, as Node names them). Any other `EAI_` code reads `dns: lookup failed`. */
const LOOKUP_ERRORS: Readonly<Record<string, string>> = {
  ENOTFOUND: "host name not found",
  ENODATA: "no address for the host name",
  EAI_AGAIN: "temporary lookup failure",
  EAI_FAIL: "lookup failed",
};

/**
 * The TLS handshake's: OpenSSL's certificate verify codes as Node names them (every one Node maps, in
 * src/crypto/crypto_common.cc), Node's host name check, and a failed handshake (`EPROTO`; `ERR_SSL_…` and other
 * `ERR_TLS_…` codes read `tls: handshake failed` too). A verify code not named here reads `tls: certificate not accepted`.
 */
const TLS_ERRORS: Readonly<Record<string, string>> = {
  CERT_HAS_EXPIRED: "certificate expired",
  CERT_NOT_YET_VALID: "certificate not yet valid",
  DEPTH_ZERO_SELF_SIGNED_CERT: "self-signed certificate",
  SELF_SIGNED_CERT_IN_CHAIN: "self-signed certificate in the chain",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "certificate chain incomplete or untrusted",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "certificate issuer not trusted",
  UNABLE_TO_GET_ISSUER_CERT: "certificate issuer not trusted",
  CERT_REVOKED: "certificate revoked",
  CERT_CHAIN_TOO_LONG: "certificate chain too long",
  ERR_TLS_CERT_ALTNAME_INVALID: "certificate does not name the host",
  HOSTNAME_MISMATCH: "certificate does not name the host",
  // How Node reports a handshake OpenSSL gave up on (an alert, or an answer that was not TLS at all): the write's
  // errno, its OpenSSL reason only in the message.
  EPROTO: "handshake failed",
};
const OTHER_CERTIFICATE_ERRORS = new Set([
  "UNABLE_TO_GET_CRL",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
  "UNABLE_TO_DECRYPT_CRL_SIGNATURE",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
  "CERT_SIGNATURE_FAILURE",
  "CRL_SIGNATURE_FAILURE",
  "CRL_NOT_YET_VALID",
  "CRL_HAS_EXPIRED",
  "ERROR_IN_CERT_NOT_BEFORE_FIELD",
  "ERROR_IN_CERT_NOT_AFTER_FIELD",
  "ERROR_IN_CRL_LAST_UPDATE_FIELD",
  "ERROR_IN_CRL_NEXT_UPDATE_FIELD",
  "OUT_OF_MEM",
  "INVALID_CA",
  "PATH_LENGTH_EXCEEDED",
  "INVALID_PURPOSE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
]);

/** Node's synchronous checks of the request it was asked to send (a header it will not write). */
const REQUEST_ERRORS: Readonly<Record<string, string>> = {
  ERR_INVALID_CHAR: "a header value has a character HTTP forbids",
  ERR_INVALID_HTTP_TOKEN: "a header name has a character HTTP forbids",
  ERR_HTTP_INVALID_HEADER_VALUE: "a header has no valid value",
};

/** The stored text of a failure with Node's `code` (or, without one, the error's `name`). */
export function describeFailureCode(code: string): string {
  return `${whatHappened(code)} (${code})`;
}

function whatHappened(code: string): string {
  const known =
    worded("malformed answer", PARSER_ERRORS, code) ??
    worded("network", SOCKET_ERRORS, code) ??
    worded("dns", LOOKUP_ERRORS, code) ??
    worded("tls", TLS_ERRORS, code) ??
    worded("invalid request", REQUEST_ERRORS, code);
  if (known) return known;
  if (code.startsWith("HPE_")) return "malformed answer: unreadable HTTP";
  if (code.startsWith("EAI_")) return "dns: lookup failed";
  if (OTHER_CERTIFICATE_ERRORS.has(code)) return "tls: certificate not accepted";
  if (code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_")) return "tls: handshake failed";
  return "network: connection failed";
}

function worded(kind: string, words: Readonly<Record<string, string>>, code: string): string | undefined {
  return Object.hasOwn(words, code) ? `${kind}: ${words[code]}` : undefined;
}
