import { describe, expect, it } from 'vitest';
import { loadOrThrow } from '../testing/config-kit.ts';
import { REDACTED, redactConfigText, redactUrl, secretKindAt } from './redact.ts';

const config = (extra: string) => `version: 1
listeners:
  web: { address: 127.0.0.1:8080, routes: [{ pool: app }] }
pools:
  app:
    backends:
      - { name: a, address: 127.0.0.1:9001 }
      - { name: b, address: 127.0.0.1:9002 }
${extra}`;

describe('redactUrl', () => {
  it('keeps scheme, host and port only', () => {
    expect(redactUrl('https://hooks.example/services/T000/B000/SECRET')).toBe('https://hooks.example:443');
    expect(redactUrl('http://user:pw@10.0.0.1:9093/api/v2/alerts?key=q')).toBe('http://10.0.0.1:9093');
    expect(redactUrl('http://[::1]/x#frag')).toBe('http://[::1]:80');
    expect(redactUrl('not a url')).toBe(REDACTED);
  });
});

describe('secretKindAt', () => {
  it('knows tokens, header values, notifier URLs and etcd endpoints', () => {
    expect(secretKindAt(['admin', 'token'])).toBe('secret');
    expect(secretKindAt(['pools', 'app', 'healthCheck', 'headers', 'x-key'])).toBe('secret');
    expect(secretKindAt(['monitor', 'notify', 0, 'webhook'])).toBe('url');
    expect(secretKindAt(['monitor', 'notify', 1, 'alertmanager'])).toBe('url');
    expect(secretKindAt(['store', 'etcd', 'endpoints', 0])).toBe('url');
    expect(secretKindAt(['admin', 'address'])).toBeUndefined();
    expect(secretKindAt(['pools', 'app', 'backends', 0, 'address'])).toBeUndefined();
  });
});

describe('redactConfigText', () => {
  const text = config(`monitor:
  notify:
    - name: slack # comments stay
      webhook: https://hooks.example/services/T000/B000/XSECRETX?token=QSECRETQ
      headers: { authorization: "Bearer HSECRETH" }
    - alertmanager: \${env:AM_URL}
    - webhook: |
        https://u:PWSECRET@h.example:8443/p
admin:
  address: 127.0.0.1:9901
  token: &tok TSECRETT
store:
  etcd: { endpoints: ["http://root:ESECRET@127.0.0.1:2379"] }
`);
  const out = redactConfigText(text);

  it('removes every secret and keeps the rest of the text, comments included', () => {
    for (const secret of ['XSECRETX', 'QSECRETQ', 'HSECRETH', 'PWSECRET', 'TSECRETT', 'ESECRET', 'services'])
      expect(out).not.toContain(secret);
    expect(out).toContain('webhook: "https://hooks.example:443"');
    expect(out).toContain('# comments stay');
    expect(out).toContain('token: &tok "(redacted)"');
    expect(out).toContain('"http://127.0.0.1:2379"');
    expect(out).toContain('address: 127.0.0.1:9901');
  });

  it('keeps a value made only of ${env:} references: the name is not the secret', () => {
    expect(out).toContain('alertmanager: ${env:AM_URL}');
  });

  it('still loads: the redacted text is a valid config', () => {
    const loaded = loadOrThrow(out, { env: { AM_URL: 'http://127.0.0.1:9093' } });
    expect(loaded.config.admin.token).toBe(REDACTED);
    expect(loaded.config.monitor.notify[2]).toMatchObject({ webhook: 'https://h.example:8443' });
  });

  it('redacts a secret reached through an alias at its anchor', () => {
    const t = config(
      'admin:\n  token: &t ASECRET\nmonitor:\n  notify:\n    - webhook: http://h:1/x\n      headers: { k: *t }\n',
    );
    expect(redactConfigText(t)).not.toContain('ASECRET');
  });

  it('works on JSON text and withholds text it cannot parse', () => {
    const json = JSON.stringify({
      admin: { token: 'JSECRET' },
      monitor: { notify: [{ webhook: 'http://a/b/c' }] },
    });
    expect(redactConfigText(json)).toBe(
      '{"admin":{"token":"(redacted)"},"monitor":{"notify":[{"webhook":"http://a:80"}]}}',
    );
    expect(redactConfigText('admin: { token: SECRET')).not.toContain('SECRET');
  });
});
