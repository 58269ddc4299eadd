/**
 * Sets `key` to `value` as `map`'s most recent entry (a Map iterates in insertion order) and drops the oldest entries
 * past `max`: the bounded caches of a warm function (callback receivers, circuits, cron objects) each keep at most
 * their cap, however many keys come. Hand-written: four lines over a Map, where an LRU library would add its weight
 * to bundles at their size budget (test/unit/bench/bundle-size.test.ts).
 */
export function keepRecent<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  for (const oldest of map.keys()) {
    if (map.size <= max) return;
    map.delete(oldest);
  }
}
