// Once a flood of refusals has ended the process asks V8 for one memory-reducing collection (lib/flood.ts):
// observed as the young generation shrunk back, in a process started without --expose-gc (as the services are).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getHeapSpaceStatistics } from 'node:v8';
import { FLOOD_MIN_REFUSALS, FLOOD_QUIET_MS, noteRefusal } from '../lib/flood.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const youngGeneration = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;

test(`after ${FLOOD_MIN_REFUSALS} refusals and ${FLOOD_QUIET_MS} ms without one, the young generation is given back; not for fewer, not while they keep coming`, async () => {
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined', 'runs like a service, without --expose-gc');
  // Grow the young generation as a flood does: fast allocation with survivors (a ring of 20,000 live objects).
  const ring: object[] = new Array(20000);
  for (let i = 0; i < 3e6; i++) ring[i % ring.length] = { i, s: `x${i}` };
  const grown = youngGeneration();
  assert.ok(grown >= 8 * 1024 * 1024, `the churn grew the young generation to ${grown} bytes`);

  // Fewer than a flood: nothing, however long it stays quiet.
  for (let i = 1; i < FLOOD_MIN_REFUSALS; i++) noteRefusal();
  await sleep(FLOOD_QUIET_MS + 500);
  assert.equal(youngGeneration(), grown, 'no collection for fewer refusals than a flood');

  // The flood goes on past the quiet time: no collection while it lasts.
  const floodEnds = Date.now() + FLOOD_QUIET_MS + 1000;
  while (Date.now() < floodEnds) {
    noteRefusal();
    await sleep(200);
  }
  assert.equal(youngGeneration(), grown, 'no collection while refusals keep coming');
  for (let i = 0; i < 100 && youngGeneration() === grown; i++) await sleep(50);
  assert.ok(youngGeneration() < grown / 4, `young generation ${youngGeneration()} bytes after the flood, was ${grown}`);
  ring.length = 0;
});
