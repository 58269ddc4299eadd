/**
 * A certificate and key for loopback TLS receivers in tests: self-signed, for `hooks.example.com`, `127.0.0.1` and
 * `::1`, valid until 2126. A test's callback client trusts it through the client's `ca` seam, so verification stays
 * on: a URL naming any other host is refused. Made once with
 *
 *   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500 \
 *     -subj "/CN=hooks.example.com" -addext "subjectAltName=DNS:hooks.example.com,IP:127.0.0.1,IP:::1" \
 *     -addext "basicConstraints=critical,CA:FALSE"
 *
 * (committed rather than made at test time: a test run needs no openssl). It protects nothing: loopback only.
 */
export const TLS_RECEIVER_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgvI0Rh+L+KmYDtfWW
DaenNoB39xGjZqcV1NIS7nMlzJmhRANCAAQ+GB4OcRo74bgOKXSXLVsHRNueb3JF
8fHww9OpOttzt6iz8jamzyyMThFqL0wsDSKfW3zdnIBQKXoblGbn2/PX
-----END PRIVATE KEY-----
`;

export const TLS_RECEIVER_CERT = `-----BEGIN CERTIFICATE-----
MIIBxTCCAWqgAwIBAgIUDIkguJD/1nWiV3zcndKxbxdTch0wCgYIKoZIzj0EAwIw
HDEaMBgGA1UEAwwRaG9va3MuZXhhbXBsZS5jb20wIBcNMjYxMjA2MDMxODEzWhgP
MjEyNjExMTIwMzE4MTNaMBwxGjAYBgNVBAMMEWhvb2tzLmV4YW1wbGUuY29tMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEPhgeDnEaO+G4Dil0ly1bB0Tbnm9yRfHx
8MPTqTrbc7eos/I2ps8sjE4Rai9MLA0in1t83ZyAUCl6G5Rm59vz16OBhzCBhDAd
BgNVHQ4EFgQU08W93kWdKoDankkAPN+xi7YJ7qMwHwYDVR0jBBgwFoAU08W93kWd
KoDankkAPN+xi7YJ7qMwNAYDVR0RBC0wK4IRaG9va3MuZXhhbXBsZS5jb22HBH8A
AAGHEAAAAAAAAAAAAAAAAAAAAAEwDAYDVR0TAQH/BAIwADAKBggqhkjOPQQDAgNJ
ADBGAiEAoQ6z0A+Wl1tcnXcIwMyD4YE3xW9yd47Xl71X/2wow0kCIQC4cKNu6F8j
qyPAJolWHUrIN9HD5DCVLsSQjJAhyEeXKg==
-----END CERTIFICATE-----
`;
