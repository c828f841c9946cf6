// A map from uint32 ids to values for tables that turn over many times a second while some
// entries stay (a worker's host calls beside its long watches).
//
// Why not a Map: V8 rehashes a churning Map every few dozen operations and leaves each
// replaced table pointing at its successor with its entries; once a full GC has moved a
// live table into the old generation, that chain keeps every later table and everything
// they held alive through each scavenge, until the next full GC, which starts it again
// (ts/src/pool/in-flight.ts and docs/benchmarks.md measure it). Here the table is two arrays
// written in place: open addressing with linear probing and backward-shift deletion (no
// tombstones, so no rehash while the size stays put), doubled when half full, and an array
// given up on growing is cleared first, so nothing dead ever points at a live value.

const INITIAL_CAPACITY = 16;

export class IdMap<V> {
  private ids: (number | undefined)[] = new Array(INITIAL_CAPACITY).fill(undefined);
  private values: (V | undefined)[] = new Array(INITIAL_CAPACITY).fill(undefined);
  private mask = INITIAL_CAPACITY - 1;
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(id: number): V | undefined {
    const i = this.find(id);
    return i < 0 ? undefined : this.values[i];
  }

  has(id: number): boolean {
    return this.find(id) >= 0;
  }

  set(id: number, value: V): this {
    const found = this.find(id);
    if (found >= 0) {
      this.values[found] = value;
      return this;
    }
    if ((this.count + 1) * 2 > this.ids.length) this.grow();
    let i = id & this.mask;
    while (this.ids[i] !== undefined) i = (i + 1) & this.mask;
    this.ids[i] = id;
    this.values[i] = value;
    this.count++;
    return this;
  }

  delete(id: number): boolean {
    let hole = this.find(id);
    if (hole < 0) return false;
    // Backward-shift: move later entries of the probe run into the hole when that keeps
    // them reachable from their home slot, so no tombstone is left behind.
    const mask = this.mask;
    let j = hole;
    for (;;) {
      j = (j + 1) & mask;
      const next = this.ids[j];
      if (next === undefined) break;
      const home = next & mask;
      // Movable unless its home lies cyclically in (hole, j].
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (stays) continue;
      this.ids[hole] = next;
      this.values[hole] = this.values[j];
      hole = j;
    }
    this.ids[hole] = undefined;
    this.values[hole] = undefined;
    this.count--;
    return true;
  }

  /** The ids present (a snapshot: safe to change the map meanwhile). */
  keys(): number[] {
    const out: number[] = [];
    for (const id of this.ids) if (id !== undefined) out.push(id);
    return out;
  }

  private find(id: number): number {
    const mask = this.mask;
    let i = id & mask;
    for (;;) {
      const here = this.ids[i];
      if (here === undefined) return -1;
      if (here === id) return i;
      i = (i + 1) & mask;
    }
  }

  private grow(): void {
    const oldIds = this.ids;
    const oldValues = this.values;
    const capacity = oldIds.length * 2;
    this.ids = new Array(capacity).fill(undefined);
    this.values = new Array(capacity).fill(undefined);
    this.mask = capacity - 1;
    this.count = 0;
    for (let i = 0; i < oldIds.length; i++) {
      const id = oldIds[i];
      if (id !== undefined) this.set(id, oldValues[i] as V);
    }
    // Dropped arrays that still held values would keep them alive (above).
    oldIds.fill(undefined);
    oldValues.fill(undefined);
  }
}
