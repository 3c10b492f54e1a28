// Opens the store a config asks for: etcd when `store.etcd` is set, else the SQLite file
// (relative paths resolve against the config file's directory), or memory when asked.
import { isAbsolute, resolve } from 'node:path';
import type { StoreConfig } from '../config/schema.ts';
import type { EtcdStore } from './etcd-store.ts';
import { openMemoryStore } from './memory-store.ts';
import { openSqliteStore } from './sqlite-store.ts';
import type { Store } from './store.ts';

export interface OpenStoreOptions {
  /** Directory a relative `store.sqlite` path is resolved against (the config file's). */
  baseDir: string;
  /** Keep everything in memory instead (tests, `fulcrum start --memory-store`). */
  memory?: boolean;
}

export function openStore(config: StoreConfig, options: OpenStoreOptions): Promise<Store> {
  if (options.memory === true) return openMemoryStore();
  if (config.etcd !== undefined) {
    const { endpoints, prefix } = config.etcd;
    // Loaded only when asked for: the etcd client (gRPC, protobuf) is 40 MB of a process's RSS.
    return import('./etcd-store.ts').then((m) => m.openEtcdStore({ endpoints, prefix }));
  }
  const file = isAbsolute(config.sqlite) ? config.sqlite : resolve(options.baseDir, config.sqlite);
  return openSqliteStore(file);
}

/** Narrow a store to the etcd one (the fleet needs its watch and namespace). */
export function isEtcdStore(store: Store): store is EtcdStore {
  return store.kind === 'etcd';
}
