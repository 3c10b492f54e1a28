import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolveTlsPaths, tlsPairs } from '../../tls-files.ts';
import { defineRule } from '../types.ts';

const DAY_MS = 86_400_000;

export const certificateExpiry = defineRule({
  id: 'certificate-expiry',
  severity: 'warning',
  title: 'A listener certificate expires soon or has expired',
  rationale:
    'An expired certificate fails every TLS handshake of its listener at once; renewal tooling fails silently more often than anyone notices, so the linter and every scheduled audit look at the dates.',
  remediation:
    'Renew the certificate, replace the files and send SIGHUP (or apply the config again): the new files are loaded without a restart.',
  parameters: { minDays: 21 },
  parameterDocs: { minDays: 'days of validity a certificate must have left' },
  check({ config, params, baseDir }) {
    const hits = [];
    const resolved = tlsPairs(resolveTlsPaths(config, baseDir));
    for (const [i, pair] of tlsPairs(config).entries()) {
      let notAfter: number;
      try {
        notAfter = Date.parse(new X509Certificate(readFileSync(resolved[i]?.cert ?? pair.cert)).validTo);
      } catch {
        // A missing or unparsable certificate is validate's finding (FULCRUM_ERR_TLS).
        continue;
      }
      if (notAfter - Date.now() >= params.minDays * DAY_MS) continue;
      const name = pair.serverName === undefined ? '' : ` (server name ${pair.serverName})`;
      // The date, not a day count, so the message of one file is the same from day to day.
      const until = new Date(notAfter).toISOString().slice(0, 16).replace('T', ' ');
      hits.push({
        path: [...pair.path, 'cert'],
        message: `certificate ${pair.cert} of listener ${pair.listener}${name} is valid until ${until} UTC: fewer than ${params.minDays} days left, or none`,
      });
    }
    return hits;
  },
});
