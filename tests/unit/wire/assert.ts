/**
 * Small assertion helpers over node:assert/strict for the wire tests.
 *
 * @module
 */
import nodeAssert from "node:assert/strict";

/** Asserts `cond` is truthy. */
export function assert(cond: unknown, msg?: string): asserts cond {
  nodeAssert.ok(cond, msg);
}

/** Deep strict equality. */
export function assertEquals<T>(actual: unknown, expected: T, msg?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, msg);
}

/** Asserts `f` throws an instance of `cls`; returns the error. */
export function assertThrows<E extends Error>(
  f: () => unknown,
  cls: new (...a: never[]) => E,
): E {
  try {
    f();
  } catch (e) {
    if (e instanceof cls) return e;
    throw new Error(`expected ${cls.name}, got ${String(e)}`);
  }
  throw new Error(`expected ${cls.name}, nothing thrown`);
}
