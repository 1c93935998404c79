// Giving memory back to the system after a burst. V8 sizes its heap by the allocation rate and what was live,
// and keeps the pages after the objects are gone until its memory reducer happens to run, which an idle
// process may not see for minutes. A memory-reducing full collection ("last resort") compacts the old
// generation, shrinks the young one and returns the empty pages at once: after a flood of bad input
// (lib/flood.ts) and after many torrents went dormant (services/torrent/torrents.ts).
// It stops the process for ~25 ms with 100 MiB of live heap (a regular full collection: ~8 ms).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Gc = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

let gc: Gc | null | undefined;

/** V8's `gc`: the global one under `node --expose-gc`, else exposed now for new contexts (the `expose-gc` package's way). */
function v8Gc(): Gc | null {
  if (gc === undefined) {
    let found = (globalThis as { gc?: Gc }).gc;
    if (!found) {
      try {
        setFlagsFromString('--expose-gc');
        found = runInNewContext('gc') as Gc | undefined;
      } catch {
        found = undefined; // a Node without it: the heap is only not given back early
      }
    }
    gc = typeof found === 'function' ? found : null;
  }
  return gc;
}

/** One memory-reducing full collection, now. */
export function giveMemoryBack(): void {
  v8Gc()?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}
