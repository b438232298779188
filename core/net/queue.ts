/**
 * A bounded queue of received datagrams with one async consumer: the
 * receive side both transports share. Pushing past the limit drops the new
 * datagram and counts it (tail drop, as a full socket buffer does).
 *
 * @module
 */
import type { Datagram } from "./types.ts";
import type { NetError } from "./errors.ts";

/** The receive queue of a transport. */
export class DatagramQueue {
  readonly #limit: number;
  readonly #items: Datagram[] = [];
  #head = 0;
  #wake: (() => void) | undefined;
  #ended = false;
  #error: NetError | undefined;
  #dropped = 0;
  #space: (() => void) | undefined;

  /** A queue holding at most `limit` datagrams. */
  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`queue limit ${limit} < 1`);
    this.#limit = limit;
  }

  /** Datagrams dropped because the queue was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Datagrams waiting. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Places left before the queue is full. */
  get room(): number {
    return this.#limit - this.length;
  }

  /**
   * Resolves once the consumer has taken the queue down to half its limit
   * (or it ended): a producer that can leave datagrams where they are (in
   * the socket's buffer) waits here instead of reading what would be dropped.
   */
  space(): Promise<void> {
    if (this.#ended || this.length * 2 <= this.#limit) return Promise.resolve();
    return new Promise<void>((r) => {
      const prev = this.#space;
      this.#space = () => {
        prev?.();
        r();
      };
    });
  }

  /** Adds a datagram; returns false (and counts a drop) when full or ended. */
  push(d: Datagram): boolean {
    if (this.#ended) return false;
    if (this.length >= this.#limit) {
      this.#dropped++;
      return false;
    }
    this.#items.push(d);
    this.#wake?.();
    return true;
  }

  /** Ends the stream after what is queued (with `error`, thrown after the queued items). */
  end(error?: NetError): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    this.#wake?.();
    this.#freed(true);
  }

  #freed(all: boolean): void {
    if (!all && this.length * 2 > this.#limit) return;
    const f = this.#space;
    this.#space = undefined;
    f?.();
  }

  #shift(): Datagram | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const d = this.#items[this.#head]!;
    this.#items[this.#head++] = undefined as unknown as Datagram;
    if (this.#space) this.#freed(false);
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items.splice(0, this.#head);
      this.#head = 0;
    }
    return d;
  }

  /** Yields every datagram until the queue ends. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Datagram, void, undefined> {
    for (;;) {
      const d = this.#shift();
      if (d) {
        yield d;
        continue;
      }
      if (this.#ended) {
        if (this.#error) throw this.#error;
        return;
      }
      // A waiting receiver keeps the process alive, as a socket read does.
      const keep = setInterval(() => {}, 1 << 30);
      try {
        await new Promise<void>((r) => (this.#wake = r));
      } finally {
        clearInterval(keep);
        this.#wake = undefined;
      }
    }
  }
}
