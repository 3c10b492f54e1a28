// For store tests: what a call settled with, as one comparable string.
import { isFulcrumError } from '../../core/errors.ts';

/** The FulcrumError code `p` rejects with, `resolved` if it does not reject, or a telling non-code. */
export async function rejectionCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return isFulcrumError(err) ? err.code : `not a FulcrumError: ${String(err)}`;
  }
  return 'resolved';
}
