// `bitween share PATH`: asks the torrent service to create and seed a torrent for a file or folder, waits
// until it is seeded, prints the info-hash (alone on stdout, so `hash=$(bitween share x)` works).
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BadInputError } from '../lib/errors.js';
import { clean, formatSize, json } from './format.js';
import { Replies, eventHash } from './replies.js';
import { out } from './run.js';
import type { Session } from './session.js';
import { statusLine } from './tty.js';

export async function sharePath(path: string): Promise<string> {
  const absolute = resolve(path);
  let kind;
  try {
    kind = await stat(absolute);
  } catch {
    throw new BadInputError(`no such file or folder: ${absolute}`);
  }
  if (!kind.isFile() && !kind.isDirectory()) throw new BadInputError(`${absolute} is neither a file nor a folder`);
  return absolute;
}

export async function shareCommand(session: Session, path: string, options: { json?: boolean; timeout?: number }): Promise<number> {
  const absolute = await sharePath(path);
  const beat = await session.requireService('torrent');
  const replies = await Replies.open(session, ['torrent_added']);
  const status = statusLine();
  status.show(`hashing ${absolute} …`);
  try {
    const payload = await session.publish('torrent', 'generate_torrent', [absolute]);
    const added = await replies.wait({
      service: 'torrent',
      pid: beat.pid,
      payload,
      what: `hashing ${absolute}`,
      timeoutMs: (options.timeout ?? 0) * 1000,
      // torrent_added for a share names the path it was made from; two shares may be hashing at once.
      pick: (e) => (e.topic === 'torrent_added' && e.kwargs.path === absolute ? e : undefined),
    });
    status.clear();
    const infoHash = eventHash(added)!;
    const name = typeof added.kwargs.name === 'string' ? added.kwargs.name : null;
    const size = typeof added.kwargs.size === 'number' ? added.kwargs.size : null;
    if (options.json) {
      await out(json({ infoHash, name, size, path: absolute }));
    } else {
      if (process.stderr.isTTY) process.stderr.write(`sharing ${clean(name ?? absolute)} (${formatSize(size)}) as\n`);
      await out(infoHash);
    }
    return 0;
  } finally {
    status.clear();
  }
}
