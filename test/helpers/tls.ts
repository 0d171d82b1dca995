/** A self-signed P-256 certificate for 127.0.0.1, made by `openssl` (installed by .ci/run). */
import { execFileSync } from 'node:child_process';
import path from 'node:path';

export interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
}

/** Writes cert.pem and key.pem into `dir`, valid for `days` days, for `cn` with 127.0.0.1 as its IP SAN. */
export function selfSignedCertificate(dir: string, days: number, cn = '127.0.0.1'): CertificateFiles {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      String(days),
      '-subj',
      `/CN=${cn}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}
