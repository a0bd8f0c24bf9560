/**
 * The leases ordered by when they are next due (etcd's LeaseExpiredNotifier): a binary min-heap keyed by
 * time, with an index from lease ID to heap slot so that a renewal moves its lease in O(log n). Ties are
 * broken by ID so that the order never depends on insertion history.
 */
interface Item {
  readonly id: bigint;
  time: number;
}

export class ExpiryQueue {
  private readonly heap: Item[] = [];
  private readonly slot = new Map<bigint, number>();

  get size(): number {
    return this.heap.length;
  }

  /** Adds the lease, or moves it to its new time. */
  set(id: bigint, time: number): void {
    const i = this.slot.get(id);
    if (i === undefined) {
      this.heap.push({ id, time });
      this.slot.set(id, this.heap.length - 1);
      this.up(this.heap.length - 1);
      return;
    }
    const item = this.heap[i] as Item;
    const earlier = time < item.time;
    item.time = time;
    if (earlier) this.up(i);
    else this.down(i);
  }

  /** The earliest item, if any. */
  peek(): { readonly id: bigint; readonly time: number } | undefined {
    return this.heap[0];
  }

  delete(id: bigint): void {
    const i = this.slot.get(id);
    if (i === undefined) return;
    const last = this.heap.pop() as Item;
    this.slot.delete(id);
    if (i === this.heap.length) return;
    this.heap[i] = last;
    this.slot.set(last.id, i);
    this.up(i);
    this.down(i);
  }

  clear(): void {
    this.heap.length = 0;
    this.slot.clear();
  }

  private less(a: Item, b: Item): boolean {
    return a.time < b.time || (a.time === b.time && a.id < b.id);
  }

  private swap(i: number, j: number): void {
    const a = this.heap[i] as Item;
    const b = this.heap[j] as Item;
    this.heap[i] = b;
    this.heap[j] = a;
    this.slot.set(b.id, i);
    this.slot.set(a.id, j);
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(this.heap[i] as Item, this.heap[parent] as Item)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const n = this.heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(this.heap[l] as Item, this.heap[m] as Item)) m = l;
      if (r < n && this.less(this.heap[r] as Item, this.heap[m] as Item)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}
