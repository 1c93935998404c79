// The CLI's wait for an answer on the bus (real Redis): an answer that arrives before the wait starts is not
// lost. On a busy machine the service's answer can be read before the reply to the CLI's own PUBLISH, which
// came on the other connection; `bitween share` of an empty folder then hung instead of saying why.
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { after, before, test } from 'node:test';
import { Replies, ServiceRefusedError } from '../../cli/replies.js';
import { Session } from '../../cli/session.js';
import { loadConfig } from '../../lib/config.js';
import { newNamespace, REDIS_URL, TestBus } from '../helpers/bus.js';

let session: Session;
let bus: TestBus;
before(async () => {
  const namespace = newNamespace('replies');
  session = new Session(loadConfig({ BITWEEN_NAMESPACE: namespace, BITWEEN_REDIS_URL: REDIS_URL }));
  bus = await TestBus.open(namespace);
});
after(async () => {
  await session?.close();
  await bus?.close();
});

/**
 * Publishes `topic` and returns once `replies` has read it: a PING on its subscribed connection is answered
 * after every message Redis pushed there before it (the test reaches into the private connection for that).
 */
async function deliver(replies: Replies, topic: string, raw: string): Promise<void> {
  await bus.publishRaw(topic, raw);
  await (replies as unknown as { sub: Redis }).sub.ping();
}

test('an error echoing the request, received before wait() is called, ends the wait at once', async () => {
  const replies = await Replies.open(session, ['torrent_added']);
  const payload = JSON.stringify({ args: ['/srv/empty'] });
  await deliver(replies, 'error', JSON.stringify({ service: 'torrent', topic: 'generate_torrent', error: 'folder /srv/empty holds no files', payload }));
  await assert.rejects(
    replies.wait({ service: 'torrent', pid: process.pid, payload, what: 'hashing', timeoutMs: 3000, pick: () => undefined }),
    (err: Error) => err instanceof ServiceRefusedError && /torrent service: folder \/srv\/empty holds no files/.test(err.message),
  );
});

test('an answer received before wait() is called is picked; what that wait did not need stays for the next', async () => {
  const replies = await Replies.open(session, ['torrent_added', 'torrent_done']);
  const hash = 'ab'.repeat(20);
  await deliver(replies, 'torrent_added', JSON.stringify({ args: [hash] }));
  await deliver(replies, 'torrent_done', JSON.stringify({ args: [hash] }));
  const waitFor = (topic: string) =>
    replies.wait({ service: 'torrent', pid: process.pid, what: topic, timeoutMs: 3000, pick: (e) => (e.topic === topic ? e.args[0] : undefined) });
  assert.equal(await waitFor('torrent_added'), hash);
  assert.equal(await waitFor('torrent_done'), hash);
});
