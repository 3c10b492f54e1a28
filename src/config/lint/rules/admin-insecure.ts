import { isLoopbackHost, parseAddress } from '../../../core/units.ts';
import { defineRule } from '../types.ts';

export const adminInsecure = defineRule({
  id: 'admin-insecure',
  severity: 'error',
  title: 'Admin API off loopback without a token',
  rationale:
    'The admin API can replace the config and roll it back; reachable from the network without a token, anyone who can reach it controls your traffic. fulcrum refuses to start like this (FULCRUM_ERR_ADMIN_INSECURE).',
  remediation: 'Bind `admin.address` to 127.0.0.1, or set `admin.token: ${env:FULCRUM_ADMIN_TOKEN}`.',
  parameters: {},
  parameterDocs: {},
  check({ config }) {
    const { address, token } = config.admin;
    const hp = parseAddress(address);
    if (hp === undefined || isLoopbackHost(hp.host) || token !== undefined) return [];
    return [
      {
        path: ['admin', 'address'],
        message: `admin API listens on ${address} (not loopback) without admin.token: anyone who reaches it can change the config`,
      },
    ];
  },
});
