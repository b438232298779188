/** Small assertion helpers for the crypto tests (over node:assert). */
import { deepStrictEqual, fail } from "node:assert/strict";

/** Deep strict equality. */
export function assertEquals(actual: unknown, expected: unknown, msg?: string): void {
  deepStrictEqual(actual, expected, msg);
}

/** Runs `fn`, asserts it throws an instance of `cls`, returns the error. */
export function assertThrows<E extends Error>(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  cls: new (...args: any[]) => E,
  msgIncludes?: string,
): E {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof cls)) fail(`expected ${cls.name}, got ${String(e)}`);
    if (msgIncludes !== undefined && !e.message.includes(msgIncludes)) {
      fail(`message ${JSON.stringify(e.message)} does not include ${JSON.stringify(msgIncludes)}`);
    }
    return e;
  }
  return fail(`expected ${cls.name} to be thrown`);
}
