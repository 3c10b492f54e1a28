// The certificate files a config names: where they are (relative paths resolve against the
// config file's directory, like store.sqlite), what they contain (their digest is part of what
// an apply compares, so a renewed certificate at the same path is applied), whether they load,
// and when they expire.
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import tls from 'node:tls';
import type { Config, ListenerConfig } from './schema.ts';

type TlsConfig = NonNullable<ListenerConfig['tls']>;

/** One certificate of a listener: the default one (serverName undefined) or an SNI entry. */
export interface TlsPair {
  readonly listener: string;
  readonly serverName: string | undefined;
  readonly cert: string;
  readonly key: string;
  /** YAML path of the entry, for findings. */
  readonly path: readonly (string | number)[];
}

/** The directory relative TLS paths resolve against: the config file's ("<api>" and the like: the working directory). */
export function configBaseDir(source: string): string {
  return source.startsWith('<') ? process.cwd() : dirname(resolve(source));
}

export function tlsPairs(config: Config): TlsPair[] {
  const out: TlsPair[] = [];
  for (const [listener, lc] of Object.entries(config.listeners)) {
    const t = lc.tls;
    if (t === undefined) continue;
    out.push({
      listener,
      serverName: undefined,
      cert: t.cert,
      key: t.key,
      path: ['listeners', listener, 'tls'],
    });
    t.sni.forEach((s, i) =>
      out.push({
        listener,
        serverName: s.serverName,
        cert: s.cert,
        key: s.key,
        path: ['listeners', listener, 'tls', 'sni', i],
      }),
    );
  }
  return out;
}

/** The config with every TLS path made absolute against `baseDir` (what listeners load). */
export function resolveTlsPaths(config: Config, baseDir: string): Config {
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  const listeners: Config['listeners'] = {};
  for (const [name, lc] of Object.entries(config.listeners)) {
    listeners[name] =
      lc.tls === undefined
        ? lc
        : {
            ...lc,
            tls: {
              cert: abs(lc.tls.cert),
              key: abs(lc.tls.key),
              sni: lc.tls.sni.map((s) => ({ serverName: s.serverName, cert: abs(s.cert), key: abs(s.key) })),
            },
          };
  }
  return { ...config, listeners };
}

/** Digest of the contents of a listener's TLS files (absolute paths); unreadable files digest as their error. */
export function tlsDigest(t: TlsConfig): string {
  const h = createHash('sha256');
  for (const file of [t.cert, t.key, ...t.sni.flatMap((s) => [s.serverName, s.cert, s.key])]) {
    h.update(file).update('\0');
    try {
      h.update(readFileSync(file));
    } catch (err) {
      h.update(`unreadable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    h.update('\0');
  }
  return h.digest('hex');
}

/** Digest of every TLS file of a config whose paths are already absolute. */
export function configTlsDigest(config: Config): string {
  const h = createHash('sha256');
  for (const [name, lc] of Object.entries(config.listeners)) {
    if (lc.tls !== undefined) h.update(name).update(tlsDigest(lc.tls));
  }
  return h.digest('hex');
}

/** Loads and checks one pair: a secure context for the listener, the certificate's expiry. */
export function loadTlsPair(pair: Pick<TlsPair, 'cert' | 'key'>): {
  context: tls.SecureContext;
  options: { cert: Buffer; key: Buffer };
  notAfter: Date;
} {
  const cert = readFileSync(pair.cert);
  const key = readFileSync(pair.key);
  const options = { cert, key };
  // Throws on a key that does not match the certificate or cannot be parsed.
  const context = tls.createSecureContext(options);
  return { context, options, notAfter: new Date(new X509Certificate(cert).validTo) };
}

/** Problems that would stop a listener from loading its certificates, one message per pair. */
export function tlsProblems(
  config: Config,
  baseDir: string,
): { path: (string | number)[]; message: string }[] {
  const out: { path: (string | number)[]; message: string }[] = [];
  for (const pair of tlsPairs(resolveTlsPaths(config, baseDir))) {
    try {
      loadTlsPair(pair);
    } catch (err) {
      out.push({
        path: [...pair.path],
        message: `${pair.serverName === undefined ? '' : `${pair.serverName}: `}cannot load ${pair.cert} / ${pair.key}: ${(err as Error).message}`,
      });
    }
  }
  return out;
}

/** Certificate expiry per listener and server name ("" for the default certificate); unreadable ones are left out. */
export function certificateExpiries(
  config: Config,
): { listener: string; serverName: string; notAfter: number }[] {
  const out: { listener: string; serverName: string; notAfter: number }[] = [];
  for (const pair of tlsPairs(config)) {
    try {
      const cert = new X509Certificate(readFileSync(pair.cert));
      out.push({
        listener: pair.listener,
        serverName: pair.serverName ?? '',
        notAfter: Date.parse(cert.validTo),
      });
    } catch {
      // An unreadable certificate is reported by the listener (FULCRUM_ERR_TLS) and validate.
    }
  }
  return out;
}
