// A self-signed certificate for TLS tests and benches, made by the openssl binary (an EC P-256
// key: quick). `ip` adds it as a subjectAltName, for clients that verify the name.
import { execFileSync } from 'node:child_process';

export function selfSignedCert(
  keyFile: string,
  certFile: string,
  o: { cn?: string; days?: number; ip?: string } = {},
): void {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      String(o.days ?? 1),
      '-subj',
      `/CN=${o.cn ?? 'localhost'}`,
      '-keyout',
      keyFile,
      '-out',
      certFile,
      ...(o.ip === undefined ? [] : ['-addext', `subjectAltName=IP:${o.ip}`]),
    ],
    { stdio: 'ignore' },
  );
}
