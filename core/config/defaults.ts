/**
 * The configuration's defaults as plain data, apart from the parser so that
 * the CLI can name them (e.g. the default control socket in `kink status
 * --help`) without loading the TOML parser. Re-exported by
 * `core/config/mod.ts`.
 *
 * @module
 */
import type { LogLevel, PeerTimers, StartMode } from "./schema.ts";

/** UDP port of KINK (RFC 4430 §4). */
export const KINK_PORT = 910;

/** The defaults, documented in contrib/kink.toml. */
export const DEFAULTS = {
  listen: ["0.0.0.0:910", "[::]:910"],
  stateDir: "/var/lib/kink",
  controlSocket: "/run/kink/kink.sock",
  krb5Conf: "/etc/krb5.conf",
  logLevel: "info" as LogLevel,
  logFormat: "text" as const,
  reqidBase: 0x4b490000,
  acquireWindow: 100,
  prf: "racoon2" as const,
  proposals: ["esp-aes128gcm16", "esp-aes256-sha256"],
  start: "on-demand" as StartMode,
  lifetimeSeconds: 3600,
  lifetimeKilobytes: 0,
  timers: {
    retransmitInitialMs: 1000,
    retransmitMaxMs: 16_000,
    retransmitTries: 5,
    deadPeerIntervalMs: 60_000,
    rekeyMarginMs: 180_000,
    deleteGraceMs: 10_000,
  } satisfies PeerTimers,
};
