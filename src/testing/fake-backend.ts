// Real loopback HTTP backends that can be told to fail, for end-to-end tests: the scriptable
// backend (src/sim/scriptable-backend.ts says its routes and modes), by its test-facing names.
import { startScriptableBackend, type ScriptableBackend } from '../sim/scriptable-backend.ts';

export type {
  BackendMode,
  HealthMode,
  ScriptableBackend as FakeBackend,
  ScriptableBackendOptions as FakeBackendOptions,
} from '../sim/scriptable-backend.ts';
export { startScriptableBackend as startFakeBackend } from '../sim/scriptable-backend.ts';

/** `n` backends named `${prefix}0`, `${prefix}1`, ... (default prefix 'b'). */
export function startFakeBackends(n: number, prefix = 'b'): Promise<ScriptableBackend[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => startScriptableBackend({ name: `${prefix}${i}` })));
}
