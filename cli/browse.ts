// `bitween browse [TERM]`: contacts' shares grouped by info-hash, with the contacts that offer each and
// whether they are online. Names and JIDs come from contacts: untrusted, cleaned before they reach a terminal.
import { browseShares, type BrowsedShare } from '../lib/store/browse.js';
import { clean, formatSize, json, shortHash, table } from './format.js';
import { out } from './run.js';
import type { Session } from './session.js';

function offeredBy(s: BrowsedShare): string {
  return s.contacts.map((c) => `${c.jid}${c.online ? '' : ' (offline)'}`).join(', ');
}

export function renderShares(shares: BrowsedShare[], term: string | undefined, width?: number): string {
  if (shares.length === 0) {
    return term
      ? `no contact shares anything matching "${clean(term)}"`
      : 'no shares from contacts yet: `bitween contacts add JID` asks someone to be a contact';
  }
  return table(
    shares,
    [
      { header: 'HASH', value: (s) => shortHash(s.infoHash) },
      { header: 'NAME', value: (s) => s.name, flex: true, minWidth: 10 },
      { header: 'SIZE', value: (s) => formatSize(s.size), align: 'right' },
      { header: 'ONLINE', value: (s) => `${s.contacts.filter((c) => c.online).length}/${s.contacts.length}`, align: 'right' },
      { header: 'HAVE', value: (s) => s.own ?? '-' },
      { header: 'OFFERED BY', value: offeredBy, flex: true, minWidth: 12 },
    ],
    width,
  );
}

export async function browseCommand(session: Session, term: string | undefined, options: { json?: boolean }): Promise<number> {
  const shares = await browseShares(await session.db(), term);
  await out(options.json ? json(shares) : renderShares(shares, term));
  return 0;
}
