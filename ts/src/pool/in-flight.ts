// The calls in flight on one worker connection, by call id.
//
// Why not a Map: a Map of a few dozen entries that turns over 100k times a second is
// rehashed every few dozen calls, and V8 leaves each replaced (obsolete) table pointing at
// its successor, entries and all. A full GC moves the live table into the old generation;
// once that table is replaced, it keeps its successor, and through it every later table and
// every Call they held, alive through each scavenge. They are promoted, the old generation
// fills, the next full GC moves the then-live table to the old generation, and the state
// sustains itself. Runs that fell into it (about half, depending on when the first full GC
// came) promoted ~2.5 MB per scavenge instead of nothing and paid ~50% more host time per
// call (--trace-gc-nvp; reproduced without the bridge in docs/benchmarks.md).
//
// This table is one array indexed by `id & mask`, written in place: a finished call's slot
// is cleared, so nothing dead ever points at a live call. Ids stay increasing (commands see
// them as CommandContext.call_id); one whose slot is still taken by an older call (a long
// stream, say) is skipped. The array doubles when half full, so an id finds a slot within
// a few tries on average (at most one per call in flight); growing never puts two calls
// in one slot.
/** Call ids are uint32 on the wire; 0 means "no call". */
const MAX_ID = 0xffffffff;
const INITIAL_CAPACITY = 256;

/** `C`: the pool's call type; only its `id` is read here. */
export class InFlightCalls<C extends { id: number } = { id: number }> {
  private slots: (C | undefined)[] = new Array(INITIAL_CAPACITY).fill(undefined);
  private mask = INITIAL_CAPACITY - 1;
  private count = 0;
  private nextId: number;

  /** `firstId` is where ids start (tests start near the wrap-around). */
  constructor(firstId = 1) {
    if (!Number.isInteger(firstId) || firstId < 1 || firstId > MAX_ID)
      throw new RangeError(`firstId must be an integer in 1..${MAX_ID}`);
    this.nextId = firstId;
  }

  get size(): number {
    return this.count;
  }

  /**
   * The id for the next call: not in flight, and its slot free. The call is stored under it
   * with put() (the frame is encoded in between, and a call refused there never is).
   */
  reserveId(): number {
    let id = this.nextId;
    while (this.slots[id & this.mask] !== undefined) id = id === MAX_ID ? 1 : id + 1;
    this.nextId = id === MAX_ID ? 1 : id + 1;
    return id;
  }

  /** Stores `call` under its id, from reserveId() with nothing stored since. */
  put(call: C): void {
    // Growing keeps the reserved slot free: ids apart under the old mask stay apart.
    if ((this.count + 1) * 2 > this.slots.length) this.grow();
    const index = call.id & this.mask;
    if (this.slots[index] !== undefined) throw new Error(`call id ${call.id} was not reserved`);
    this.slots[index] = call;
    this.count++;
  }

  get(id: number): C | undefined {
    const call = this.slots[id & this.mask];
    return call !== undefined && call.id === id ? call : undefined;
  }

  /** Removes `call` if it is the one in flight under its id; true when it was. */
  delete(call: C): boolean {
    const index = call.id & this.mask;
    if (this.slots[index] !== call) return false;
    this.slots[index] = undefined;
    this.count--;
    return true;
  }

  /** The calls in flight, in slot order (a snapshot: safe to change the table meanwhile). */
  values(): C[] {
    const out: C[] = [];
    if (this.count === 0) return out;
    for (const call of this.slots) if (call !== undefined) out.push(call);
    return out;
  }

  clear(): void {
    if (this.count === 0) return;
    this.slots.fill(undefined);
    this.count = 0;
  }

  private grow(): void {
    const bigger: (C | undefined)[] = new Array(this.slots.length * 2).fill(undefined);
    const mask = bigger.length - 1;
    // Distinct slots under the old mask stay distinct under the wider one.
    for (const call of this.slots) if (call !== undefined) bigger[call.id & mask] = call;
    this.slots.fill(undefined); // a dropped array that still held calls would keep them alive (above)
    this.slots = bigger;
    this.mask = mask;
  }
}
