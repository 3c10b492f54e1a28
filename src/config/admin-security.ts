// The one rule an admin must keep to run: off loopback it needs a token. `start` refuses a
// config that breaks it, and so does every apply, forced or not, so no change can leave an
// admin that anyone on the network may reconfigure.
import { FulcrumError } from '../core/errors.ts';
import { isLoopbackHost, parseAddress } from '../core/units.ts';
import type { Config } from './schema.ts';

/**
 * Throws FULCRUM_ERR_ADMIN_INSECURE when `config` has no admin.token and either its own
 * admin.address or `boundAddress` (where the running admin listens, when that was overridden)
 * is not a loopback address.
 */
export function assertAdminSecure(config: Config, boundAddress?: string): void {
  if (config.admin.token !== undefined) return;
  for (const address of new Set([config.admin.address, boundAddress ?? config.admin.address])) {
    const hp = parseAddress(address);
    if (!hp) throw new FulcrumError('FULCRUM_ERR_CONFIG_INVALID', `bad admin address ${address}`);
    if (!isLoopbackHost(hp.host)) {
      throw new FulcrumError(
        'FULCRUM_ERR_ADMIN_INSECURE',
        `admin address ${address} is not loopback and admin.token is not set; refusing to expose the admin API without a token`,
        { address },
      );
    }
  }
}
