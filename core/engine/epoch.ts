/**
 * The epoch a KINK daemon announces (RFC 4430 §3.7, §4.2.1).
 *
 * @module
 */

/**
 * The epoch of a start at `nowMs` (ms since the Unix epoch), given the
 * epoch the previous start announced: the low 32 bits of its POSIX second
 * (§4.2.1), unless that does not follow `previous` in 32-bit serial order —
 * a restart within the same second as the previous one, or after the clock
 * was stepped back — then `previous + 1`.
 *
 * A peer learns that we lost our SAs only from a changed epoch (§3.7), and
 * kink's engine drops messages whose epoch precedes the one it recorded, so
 * every start must announce an epoch newer than every earlier one: the
 * caller persists the result before the engine sends anything and passes it
 * back as `previous` at the next start.
 */
export function nextEpoch(nowMs: number, previous: number | undefined): number {
  const now = Math.floor(nowMs / 1000) >>> 0;
  if (previous === undefined || ((now - previous) | 0) > 0) return now;
  return (previous + 1) >>> 0;
}
