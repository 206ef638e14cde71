/**
 * Token buckets per API key: `perMinute` requests a minute, with bursts up to the same number.
 * Per ingress instance (behind a load balancer, each instance allows the rate).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number; perMinute: number }>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Takes one request's token; returns 0 when allowed, else the seconds to wait before retrying. */
  take(key: string, perMinute: number): number {
    const now = this.now();
    const perMs = perMinute / 60_000;
    const bucket = this.buckets.get(key) ?? { tokens: perMinute, at: now, perMinute };
    bucket.tokens = Math.min(perMinute, bucket.tokens + (now - bucket.at) * perMs);
    bucket.at = now;
    bucket.perMinute = perMinute;
    if (this.buckets.size > 100_000) this.sweep(now);
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000));
  }

  /** Drops buckets that are full again (idle keys). */
  private sweep(now: number): void {
    for (const [key, b] of this.buckets) if (b.tokens + (now - b.at) * (b.perMinute / 60_000) >= b.perMinute) this.buckets.delete(key);
  }
}
