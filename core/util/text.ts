/**
 * Safe display of text that came from the wire, a file or a peer: the one
 * escaping function every human-readable output and log line goes through.
 *
 * A Kerberos name, an e-text or an error detail may hold ESC (terminal control
 * sequences), BEL, CR (overwriting a line), LF (forging a log line), DEL or
 * the 8-bit C1 controls some terminals obey. {@link escapeControl} replaces
 * every one of them, plus the Unicode line/paragraph separators and the
 * bidirectional overrides that reorder what a reader sees, by a visible
 * escape: `\xNN` for U+0000–U+00FF, `\u{NNNN}` above. Printable text,
 * including non-ASCII letters, is left as it is.
 *
 * @module
 */

/** Code points {@link escapeControl} rewrites: C0, DEL, C1, U+2028/2029, bidi controls. */
// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

/** Same set minus TAB and LF, for whole output lines that we formatted ourselves. */
const UNSAFE_KEEP_LAYOUT =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

/** What JSON.stringify leaves raw: DEL, C1 and the Unicode set (C0 it escapes itself). */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

function escapeOne(c: string): string {
  const n = c.codePointAt(0)!;
  return n <= 0xff ? `\\x${n.toString(16).padStart(2, "0")}` : `\\u{${n.toString(16)}}`;
}

/**
 * Escapes every control character of `s` (C0 incl. TAB/CR/LF, DEL, C1, line
 * and paragraph separators, bidi controls) as `\xNN` or `\u{NNNN}`, so that
 * `s` prints as one inert line. Use it on every wire-derived string before it
 * reaches a terminal or a log.
 */
export function escapeControl(s: string): string {
  return s.replace(UNSAFE, escapeOne);
}

/**
 * Like {@link escapeControl} but keeps TAB and LF: for output lines a command
 * laid out itself (indentation, several lines in one write). Text from the wire
 * must already have been through {@link escapeControl}; this is the last
 * guard at the output sink.
 */
export function escapeControlKeepLayout(s: string): string {
  return s.replace(UNSAFE_KEEP_LAYOUT, escapeOne);
}

/**
 * JSON text of `v` with DEL, C1 and the other characters {@link escapeControl}
 * rewrites written as `\uNNNN` (JSON.stringify already escapes C0): the same
 * value for a JSON reader, inert on a terminal.
 */
export function safeJson(v: unknown, space?: number): string {
  // These characters occur only inside JSON strings, where \uNNNN is valid.
  return JSON.stringify(v, null, space).replace(
    UNSAFE_IN_JSON,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
