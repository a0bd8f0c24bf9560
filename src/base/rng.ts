/**
 * Seeded randomness. Deterministic modules (the raft core, the simulators) take an `Rng` instead of
 * calling `Math.random`, so that a seed replays a run exactly.
 */
export interface Rng {
  /** A uniformly distributed integer in [0, n). `n` must be a positive safe integer. */
  int(n: number): number;
  /** A uniformly distributed float in [0, 1). */
  float(): number;
}

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counter), seeded through splitmix32 so that nearby seeds give
 * unrelated streams. 128 bits of state, passes PractRand far beyond what simulations draw.
 */
export class SeededRng implements Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(readonly seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    // Discard the first outputs: sfc32 mixes its state during its first rounds.
    for (let i = 0; i < 12; i++) this.next32();
  }

  private next32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  float(): number {
    return this.next32() / 4294967296;
  }

  int(n: number): number {
    if (!(n > 0) || !Number.isSafeInteger(n)) throw new RangeError(`rng: bound must be a positive safe integer, got ${n}`);
    return Math.floor(this.float() * n);
  }
}
