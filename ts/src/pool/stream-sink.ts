// The consumer side of a streaming call: items pushed by the connection, pulled by an
// async iterator. Breaking out of `for await` cancels the Python generator.

export class StreamSink<T> implements AsyncIterableIterator<T> {
  private items: T[] = [];
  /** Pending next() calls, oldest first. */
  private waiting: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void }[] = [];
  private done = false;
  private error: unknown;

  constructor(private readonly onCancel: () => void) {}

  push(item: T): void {
    if (this.done) return;
    const w = this.waiting.shift();
    if (w) w.resolve({ value: item, done: false });
    else this.items.push(item);
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
    if (this.items.length > 0) return Promise.resolve({ value: this.items.shift()!, done: false });
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
