// For tests: a config text that must load, loaded.
import { loadConfigText, type LoadedConfig, type LoadOptions } from '../config/load.ts';

/** Load `text` (as loadConfigText does) or throw with every issue, so a broken fixture fails loudly. */
export function loadOrThrow(text: string, options: LoadOptions = {}): LoadedConfig {
  const r = loadConfigText(text, options);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.value;
}
