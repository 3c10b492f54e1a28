// A self-signed certificate for TLS tests, made by the openssl binary (an EC P-256 key: quick).
import { execFileSync } from 'node:child_process';

export function selfSignedCert(
  keyFile: string,
  certFile: string,
  o: { cn?: string; days?: number } = {},
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
    ],
    { stdio: 'ignore' },
  );
}
