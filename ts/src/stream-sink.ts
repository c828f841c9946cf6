// The consumer side of a streaming call: items pushed by the connection, pulled by an
// async iterator. Breaking out of `for await` cancels the Python generator.
//
// Flow control: the worker sends at most a window of items ahead; the sink counts the items
// the consumer has taken and, every `creditEvery` of them, hands that count to `onCredit`
// (which grants the worker as many more). So at most a window of items is ever buffered here.

export class StreamSink<T> implements AsyncIterableIterator<T> {
  private items: T[] = [];
  /** Pending next() calls, oldest first. */
  private waiting: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void }[] = [];
  private done = false;
  private error: unknown;
  /** Items taken by the consumer since credit was last granted. */
  private taken = 0;

  /**
   * @param creditEvery grant credit after this many taken items; 0 = no flow control
   * @param onCredit called with the number of items taken since the last grant
   */
  constructor(
    private readonly onCancel: () => void,
    private readonly creditEvery = 0,
    private readonly onCredit?: (items: number) => void,
  ) {}

  push(item: T): void {
    if (this.done) return;
    const w = this.waiting.shift();
    if (w) {
      w.resolve({ value: item, done: false });
      this.tookOne();
    } else this.items.push(item);
  }

  /** Items received and not yet taken by the consumer. */
  get buffered(): number {
    return this.items.length;
  }

  private tookOne(): void {
    if (this.creditEvery === 0 || this.done) return;
    if (++this.taken >= this.creditEvery) {
      const n = this.taken;
      this.taken = 0;
      this.onCredit?.(n);
    }
  }

  end(): void {
    this.finish(undefined);
  }

  fail(error: unknown): void {
    this.finish(error ?? new Error("stream failed"));
  }

  get finished(): boolean {
    return this.done;
  }

  private finish(error: unknown): void {
    if (this.done) return;
    this.done = true;
    this.error = error;
    const waiters = this.waiting.splice(0);
    if (waiters.length && error !== undefined) {
      this.error = undefined; // reported to the first waiter; later next() calls just say done
      waiters.shift()!.reject(error);
    }
    for (const w of waiters) w.resolve({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) {
      const value = this.items.shift()!;
      this.tookOne();
      return Promise.resolve({ value, done: false });
    }
    if (this.done) {
      if (this.error !== undefined) {
        const e = this.error;
        this.error = undefined; // report once; later next() calls just say done
        return Promise.reject(e);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
    });
  }

  return(): Promise<IteratorResult<T>> {
    if (!this.done) {
      this.done = true;
      this.items = [];
      for (const w of this.waiting.splice(0)) w.resolve({ value: undefined, done: true });
      this.onCancel();
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
