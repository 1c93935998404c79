// Waiting on Redis or Postgres with a bound: services keep commands queued through outages
// (maxRetriesPerRequest: null), so anything on the shutdown path must not wait for them forever.

/** `promise`'s value, or `fallback` once `ms` have passed. */
export function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(fallback), ms);
    timer.unref();
    void promise.then((v) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}
