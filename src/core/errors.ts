// Every error fulcrum reports has a stable code defined here, and only here.
// docs/errors.md lists the same codes; test/errors-doc.test.ts keeps the two in step.

export interface ErrorSpec {
  /** HTTP status used when the error is answered over HTTP (proxy or admin). */
  readonly status: number;
  /** One line for docs/errors.md: what it means and what to do. */
  readonly doc: string;
}

export const ERRORS = {
  // config: reading, parsing and checking a configuration
  FULCRUM_ERR_CONFIG_READ: { status: 400, doc: 'The config file could not be read (missing, unreadable).' },
  FULCRUM_ERR_CONFIG_PARSE: {
    status: 400,
    doc: 'The config text is not valid YAML or JSON; the message gives line and column.',
  },
  FULCRUM_ERR_CONFIG_ENV: {
    status: 400,
    doc: 'A `${env:NAME}` reference names an environment variable that is not set.',
  },
  FULCRUM_ERR_CONFIG_INVALID: {
    status: 422,
    doc: 'The config breaks the schema or a semantic rule; `details.issues` lists each path and problem.',
  },
  FULCRUM_ERR_CONFIG_LINT: {
    status: 422,
    doc: 'The config has lint findings of severity error; apply refuses it unless forced.',
  },
  FULCRUM_ERR_CONFIG_WARM: {
    status: 422,
    doc: 'Every backend a serving pool would keep failed its first health check during warm-up; the apply is refused (nothing changes) unless forced.',
  },
  FULCRUM_ERR_START_HISTORY_DIFFERS: {
    status: 409,
    doc: "`start`'s config file differs from the store's latest version (an API apply or a newer history); choose with `--prefer file` or `--prefer store`.",
  },
  FULCRUM_ERR_CONFIG_CONFLICT: {
    status: 409,
    doc: 'Another apply landed first (the expected version is stale); re-read and retry.',
  },
  FULCRUM_ERR_CONFIG_TOO_LARGE: {
    status: 413,
    doc: 'The config text exceeds 2 MiB; it is refused before it is parsed.',
  },
  FULCRUM_ERR_CONFIG_VERSION_NOT_FOUND: { status: 404, doc: 'No stored config version has that number.' },
  FULCRUM_ERR_CONFIG_APPLY: {
    status: 500,
    doc: 'Building or starting the new snapshot failed (for example a listener address could not be bound); the running config is kept.',
  },
  // proxy: answers the data plane gives clients
  FULCRUM_ERR_PROXY_NO_ROUTE: { status: 404, doc: 'No route of the listener matches the request.' },
  FULCRUM_ERR_PROXY_NO_BACKEND: {
    status: 503,
    doc: 'The pool has no available backend (all down, ejected, draining or at `maxRequests`).',
  },
  FULCRUM_ERR_PROXY_UPSTREAM_CONNECT: {
    status: 502,
    doc: 'The backend refused or dropped the connection before answering.',
  },
  FULCRUM_ERR_PROXY_UPSTREAM_RESET: {
    status: 502,
    doc: 'The backend reset the connection or sent a malformed response.',
  },
  FULCRUM_ERR_PROXY_UPSTREAM_TIMEOUT: {
    status: 504,
    doc: 'The backend did not connect or answer within the pool timeouts.',
  },
  FULCRUM_ERR_PROXY_BAD_REQUEST: {
    status: 400,
    doc: 'The client request is malformed (bad header, bad framing).',
  },
  FULCRUM_ERR_PROXY_UNSUPPORTED_CODING: {
    status: 501,
    doc: 'The request uses a transfer coding other than `chunked`, the only one the proxy re-frames.',
  },
  FULCRUM_ERR_PROXY_HEADERS_TOO_LARGE: {
    status: 431,
    doc: 'The request headers exceed the listener limit.',
  },
  FULCRUM_ERR_PROXY_BODY_TOO_LARGE: {
    status: 413,
    doc: 'The request body exceeds the listener `maxBodySize`.',
  },
  FULCRUM_ERR_PROXY_CLIENT_TIMEOUT: {
    status: 408,
    doc: 'The client was too slow to send its request headers or body.',
  },
  FULCRUM_ERR_PROXY_BAD_CHUNK: {
    status: 400,
    doc: 'The chunked request body is malformed: a size with leading zeros or whitespace, a bad or overlong chunk extension, or a trailer that is not a valid field or names a framing field.',
  },
  FULCRUM_ERR_PROXY_BAD_TARGET: {
    status: 400,
    doc: 'The request target is refused: userinfo in an absolute-form target, a bad authority, or `*` for a method other than OPTIONS.',
  },
  FULCRUM_ERR_PROXY_METHOD_NOT_ALLOWED: {
    status: 405,
    doc: '`CONNECT` is refused: fulcrum is a reverse proxy, not a tunnel to arbitrary hosts.',
  },
  FULCRUM_ERR_PROXY_UNKNOWN_METHOD: {
    status: 501,
    doc: 'The request method is not one a strict HTTP/1.1 parser (llhttp) knows, lower-case spellings included: a backend would refuse the forwarded bytes.',
  },
  FULCRUM_ERR_PROXY_HTTP2_PREFACE: {
    status: 400,
    doc: 'The client sent the HTTP/2 connection preface (`PRI * HTTP/2.0`) to an HTTP/1.1 listener.',
  },
  FULCRUM_ERR_PROXY_UPGRADE_BODY: {
    status: 400,
    doc: 'An upgrade request (for a protocol the listener tunnels) carries a body; a tunnel request must have none.',
  },
  FULCRUM_ERR_PROXY_SHUTTING_DOWN: {
    status: 503,
    doc: 'The balancer is draining for shutdown and accepts no new request on this connection.',
  },
  // admin API
  FULCRUM_ERR_ADMIN_UNAUTHORIZED: {
    status: 401,
    doc: 'The admin call needs `Authorization: Bearer <token>` and none or a wrong one was given.',
  },
  FULCRUM_ERR_ADMIN_NOT_FOUND: { status: 404, doc: 'No admin endpoint at that path.' },
  FULCRUM_ERR_ADMIN_METHOD: { status: 405, doc: 'The admin endpoint does not accept that method.' },
  FULCRUM_ERR_ADMIN_BAD_REQUEST: {
    status: 400,
    doc: 'The admin call has a malformed body or query parameter.',
  },
  FULCRUM_ERR_ADMIN_HOST: {
    status: 403,
    doc: 'The `Host` of an admin API call (or an absolute-form target’s authority) names neither the admin (its address, an IP, or a loopback name) nor an `admin.allowedHosts` entry, or `Host` was sent twice: the DNS-rebinding defence.',
  },
  FULCRUM_ERR_ADMIN_ORIGIN: {
    status: 403,
    doc: 'A mutating admin call came from a page of another origin (its `Origin` is neither the admin itself nor in `admin.allowedOrigins`, or it is marked `Sec-Fetch-Site: cross-site` without a listed `Origin`).',
  },
  FULCRUM_ERR_ADMIN_CONTENT_TYPE: {
    status: 403,
    doc: 'A mutating admin call has neither `Content-Type: application/json`/`application/yaml` nor `X-Fulcrum-Request: 1`, so a cross-origin page could have sent it without a preflight.',
  },
  FULCRUM_ERR_ADMIN_BODY_TOO_LARGE: { status: 413, doc: 'The admin request body exceeds 4 MiB.' },
  FULCRUM_ERR_ADMIN_INSECURE: {
    status: 422,
    doc: 'The admin address is not loopback and no token is set; fulcrum refuses to start, and refuses any apply (forced or not) that would leave its admin so.',
  },
  FULCRUM_ERR_ADMIN_UNREACHABLE: {
    status: 503,
    doc: 'The CLI could not reach the admin API at `--admin`.',
  },
  FULCRUM_ERR_ADMIN_NOT_FULCRUM: {
    status: 502,
    doc: 'The `--admin` URL answered, but not as a fulcrum admin API (another server on that port, or a proxy in the way).',
  },
  // store
  FULCRUM_ERR_STORE_OPEN: {
    status: 500,
    doc: 'The store (SQLite file or etcd) could not be opened or migrated.',
  },
  FULCRUM_ERR_STORE_WRITE: {
    status: 500,
    doc: 'A write to the store failed; nothing was committed and the running config is unchanged.',
  },
  FULCRUM_ERR_STORE_CORRUPT: {
    status: 500,
    doc: 'The SQLite store failed its integrity check; serving continues on the running version. Recover with `fulcrum store check` and docs/store.md.',
  },
  FULCRUM_ERR_STORE_READ: {
    status: 503,
    doc: 'A read from the store failed (etcd unreachable or timed out, SQLite file unreadable); retry when the store is back.',
  },
  // fleet (instances sharing store.etcd and fleet.name)
  FULCRUM_ERR_FLEET_STORE: {
    status: 400,
    doc: '`fleet` is set but `store.etcd` is not: a fleet shares its history through etcd.',
  },
  FULCRUM_ERR_FLEET_OVERLAP: {
    status: 409,
    doc: 'Another instance of the same store already serves this listener address on this host (start with `--share-address` to share it on purpose), or already holds this `fleet.instance` id.',
  },
  FULCRUM_ERR_FLEET_CANARY: {
    status: 400,
    doc: 'A fleet canary (`--canary-instances N`) was refused: not a whole number of instances, no fleet, too few instances for a baseline, or a canary already running.',
  },
  // canary: a share of one instance's requests on the new config (`--canary 10%`)
  FULCRUM_ERR_CANARY_INVALID: {
    status: 400,
    doc: 'A traffic-slice canary was refused before anything changed: `--canary`/`canary=` is not a percentage strictly between 0% and 100% (write it like `10%`), it was combined with `--canary-instances`, it was asked of a fleet instance (use `--canary-instances`) or of worker threads (`workers` above 1: use a guarded apply), or no config runs yet.',
  },
  FULCRUM_ERR_CANARY_LISTENERS: {
    status: 409,
    doc: 'The canary config adds, removes or re-binds a listener (address, TLS on/off, header size limit): a share of requests cannot bind a port. Apply it without `--canary` (a guarded apply), or change listeners separately.',
  },
  FULCRUM_ERR_CANARY_RUNNING: {
    status: 409,
    doc: 'A traffic-slice canary is already running on this instance; wait for its verdict (`GET /api/v1/guard`) or end it with `fulcrum rollback` (any apply or rollback ends it and returns its share to the running config).',
  },
  // listeners and start-up
  FULCRUM_ERR_LISTEN: {
    status: 500,
    doc: 'An address could not be bound (permission denied, not a local address, taken by another process between the check and the bind).',
  },
  FULCRUM_ERR_LISTEN_IN_USE: {
    status: 500,
    doc: 'Another process already listens on the address; refused so two balancers never share it by accident (replace a running one by handover, docs/operations.md).',
  },
  FULCRUM_ERR_WORKER_PREPARE: {
    status: 500,
    doc: 'A worker thread could not prepare the new snapshot (bind, TLS files, a fault); the apply is refused and every worker stays on the running version.',
  },
  FULCRUM_ERR_WORKER_LOST: {
    status: 503,
    doc: 'A worker thread exited while an apply waited for it; the apply is refused, the worker is replaced and runs the running version.',
  },
  FULCRUM_ERR_WORKERS_UNSUPPORTED: {
    status: 500,
    doc: '`workers` above 1 needs SO_REUSEPORT (Linux, Node.js >= 22.12) and no socket handover; run with `workers: 1` on this platform.',
  },
  FULCRUM_ERR_HANDOVER: {
    status: 500,
    doc: 'A handover to a replacing process failed (it exited, or was not ready in time); the running process keeps serving.',
  },
  FULCRUM_ERR_TLS: { status: 500, doc: 'A listener TLS certificate or key could not be loaded.' },
  FULCRUM_ERR_LOG_OPEN: {
    status: 500,
    doc: 'The `log.file` could not be opened (at start, or when reopened for logrotate: the old file is kept).',
  },
  // audit and drill
  FULCRUM_ERR_AUDIT_UNKNOWN_CHECK: {
    status: 400,
    doc: 'An audit was asked to run a check that is not registered; the message lists the known checks.',
  },
  FULCRUM_ERR_AUDIT_FAILED: {
    status: 500,
    doc: 'An audit check could not run (for example the store or a listener was unavailable); the run is recorded with status `error`.',
  },
  FULCRUM_ERR_DRILL_UNKNOWN_SCENARIO: {
    status: 400,
    doc: '`fulcrum drill` was given a scenario name it does not know; the message lists the scenarios.',
  },
  // cli
  FULCRUM_ERR_CLI_USAGE: { status: 400, doc: 'Unknown verb or flag, or a flag value of the wrong form.' },
  FULCRUM_ERR_NODE_VERSION: {
    status: 500,
    doc: 'The Node.js running `fulcrum` is older than 22.13 (the bin checks before loading anything); install a newer one.',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export class FulcrumError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super(message, options);
    this.name = 'FulcrumError';
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return ERRORS[this.code].status;
  }

  /** The one error shape of the admin API and CLI JSON output. */
  toJSON(): { error: { code: ErrorCode; message: string; details?: Record<string, unknown> } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERRORS, code);
}

export function isFulcrumError(e: unknown): e is FulcrumError {
  return e instanceof FulcrumError;
}

/** The message of anything thrown (an Error's message, otherwise its string form). */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
