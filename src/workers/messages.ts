// What the main thread and a data-plane worker say to each other. Only control traffic goes
// here (applies, health publishes, shutdown, rare logs); request outcomes go through the
// shared outcome ring.
import type { Config } from '../config/schema.ts';
import type { SharedBuffers } from './shared-tables.ts';

export interface WorkerInit {
  readonly index: number;
  /** 0 for the first worker at an index, +1 for each replacement. */
  readonly incarnation: number;
  readonly buffers: SharedBuffers;
  readonly ring: SharedArrayBuffer;
  readonly logLevel: string;
  readonly auditSecret: string;
  readonly failpoints: string | undefined;
}

/** Slots of one pool of the snapshot: its own, and its hosts' in backend order. */
export interface PoolSlots {
  readonly slot: number;
  readonly hosts: readonly number[];
}

export type ToWorker =
  | {
      readonly type: 'prepare';
      readonly id: number;
      readonly version: number;
      /** The config with every listener's port resolved (port 0 made the one the main thread reserved). */
      readonly config: Config;
      readonly pools: Readonly<Record<string, PoolSlots>>;
      readonly listenerSlots: Readonly<Record<string, number>>;
      readonly ticketKeys: Readonly<Record<string, Uint8Array>>;
    }
  | { readonly type: 'commit'; readonly id: number }
  | { readonly type: 'abort'; readonly id: number }
  | { readonly type: 'refresh'; readonly pools: readonly number[] }
  | { readonly type: 'shutdown'; readonly id: number; readonly graceMs: number };

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'done'; readonly id: number }
  | {
      readonly type: 'failed';
      readonly id: number;
      readonly code: string | undefined;
      readonly message: string;
      readonly details: Record<string, unknown> | undefined;
    }
  | { readonly type: 'log'; readonly line: string };
