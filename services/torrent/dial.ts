// Connects a torrent to the contact addresses the store knows for its hash. Addresses come from contacts
// and are untrusted: unless BITWEEN_ALLOW_LOOPBACK is on, loopback addresses are refused, so a contact
// cannot aim this client at services on the node itself (Redis, Postgres, the web dashboard).
import type { Torrent } from 'webtorrent';
import { addressesForHash } from '../../lib/store/peers.js';
import { dialableAddress } from '../../lib/address.js';
import { BadInputError } from '../../lib/errors.js';
import { peerAddress } from '../../lib/validate.js';
import type { TorrentContext } from './context.js';

export async function dialContacts(ctx: TorrentContext, torrent: Torrent, infoHash: string): Promise<{ dialled: string[]; refused: string[] }> {
  const dialled: string[] = [];
  const refused: string[] = [];
  for (const { address, port } of await addressesForHash(ctx.db, infoHash)) {
    const peer = peerAddress(address, port);
    if (dialableAddress(address, { allowLoopback: ctx.config.allowLoopback }) === undefined) {
      refused.push(peer);
      continue;
    }
    if (torrent.destroyed) break;
    // addPeer ignores a peer it already has, so dialling the same address again is harmless.
    torrent.addPeer(peer);
    dialled.push(peer);
  }
  if (refused.length > 0) {
    await ctx.bus.publishError(
      'add_hash',
      new BadInputError(
        `refused to dial contact address${refused.length > 1 ? 'es' : ''} ${refused.join(', ')} for ${infoHash}: loopback, unspecified, link-local and multicast addresses are never dialled (BITWEEN_ALLOW_LOOPBACK=true allows loopback, for tests and single-machine setups)`,
      ),
      '',
      infoHash,
    );
  }
  if (dialled.length > 0) ctx.log.debug({ infoHash, peers: dialled }, 'dialled contact addresses');
  return { dialled, refused };
}
