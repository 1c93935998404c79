// Memory after a flood of bad input (issue 12.6). Every refused message is garbage once its report is out, but
// V8 sizes its heap by the allocation rate, not by what is live: under a flood it grows the young generation to
// its largest semi-spaces (ecosystem.config.js bounds them per service) and keeps that size afterwards until
// its memory reducer happens to run, which an idle service may not see for minutes. So once a flood has ended
// (FLOOD_MIN_REFUSALS or more refusals, then FLOOD_QUIET_MS without one) the process asks V8 for one
// memory-reducing full collection, which shrinks the young generation and gives its pages back.
// Legitimate traffic is not refused and never pays for it.
//
// Measured (bench/README.md, "Memory under hostile load"): a young generation grown to 2 × 16 MiB is back at
// 2 × 1 MiB after such a collection (RSS 86 → 52 MiB in a bare process); a regular full collection leaves it.
// It stops the process once per flood (lib/memory.ts).
import { giveMemoryBack } from './memory.js';

export const FLOOD_MIN_REFUSALS = 100;
export const FLOOD_QUIET_MS = 2000;

let refusals = 0;
let lastRefusalAt = 0;
let timer: NodeJS.Timeout | undefined;

/** Counts one refused message (a bus error report, a payload the dashboard's relay dropped). */
export function noteRefusal(): void {
  refusals++;
  lastRefusalAt = Date.now();
  if (refusals >= FLOOD_MIN_REFUSALS && !timer) armTimer(FLOOD_QUIET_MS);
}

/** One timer per flood, moved on while refusals keep coming (not one per refusal). */
function armTimer(ms: number): void {
  timer = setTimeout(() => {
    const quiet = Date.now() - lastRefusalAt;
    if (quiet < FLOOD_QUIET_MS) return armTimer(FLOOD_QUIET_MS - quiet);
    timer = undefined;
    refusals = 0;
    giveMemoryBack();
  }, ms);
  timer.unref(); // never what keeps a stopping process alive
}
