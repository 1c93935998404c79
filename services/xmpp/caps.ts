// XEP-0115 entity capabilities and the disco#info answer behind them. Prosody's PEP sends a contact's
// shares only to resources whose caps list `<node>+notify`, and it learns the list by asking our
// disco#info for `<caps node>#<ver>` (the library's default answer is an error: NOTES.md).
import { createHash } from 'node:crypto';
import { xml, type Element } from '@xmpp/client';
import { NS_SHARES } from './wire.js';

export const NS_CAPS = 'http://jabber.org/protocol/caps';
export const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
export const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

/** Names the software in caps (XEP-0115 §4: a URI for the application). */
export const CAPS_NODE = 'https://github.com/bitween/bitween';

const IDENTITY = { category: 'client', type: 'bot', name: 'bitween' };
export const FEATURES = [
  NS_CAPS,
  NS_DISCO_INFO,
  `${NS_SHARES}+notify`,
  'urn:xmpp:ping',
].sort();

/** XEP-0115 §5.1 verification string, sha-1, base64. */
export function capsVer(): string {
  const s = `${IDENTITY.category}/${IDENTITY.type}//${IDENTITY.name}<${FEATURES.map((f) => `${f}<`).join('')}`;
  return createHash('sha1').update(s).digest('base64');
}

export const CAPS_VER = capsVer();

export function capsElement(): Element {
  return xml('c', { xmlns: NS_CAPS, hash: 'sha-1', node: CAPS_NODE, ver: CAPS_VER });
}

/** The disco#info answer: ours for no node or our caps node; item-not-found for any other node. */
export function discoInfo(node: string | undefined): Element {
  if (node !== undefined && node !== `${CAPS_NODE}#${CAPS_VER}`) {
    return xml('error', { type: 'cancel' }, xml('item-not-found', { xmlns: NS_STANZAS }));
  }
  return xml(
    'query',
    { xmlns: NS_DISCO_INFO, node },
    xml('identity', IDENTITY),
    ...FEATURES.map((f) => xml('feature', { var: f })),
  );
}
