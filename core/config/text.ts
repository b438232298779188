/**
 * Escaping of untrusted text for terminals and logs.
 *
 * @module
 */

/**
 * Replaces every C0 control character, DEL and C1 control character by a
 * visible escape (`\n`, `\t`, `\x1b`, `\u009b`…), so that text from a file or
 * the wire cannot move the cursor, ring the bell or forge a log line.
 */
export function escapeControl(s: string): string {
  // deno-lint-ignore no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f\\]/g, (c) => {
    switch (c) {
      case "\\":
        return "\\\\";
      case "\n":
        return "\\n";
      case "\r":
        return "\\r";
      case "\t":
        return "\\t";
      default: {
        const code = c.charCodeAt(0);
        return code < 0x80
          ? `\\x${code.toString(16).padStart(2, "0")}`
          : `\\u${code.toString(16).padStart(4, "0")}`;
      }
    }
  });
}
