// Turns what the user typed into a full info-hash: 40 hex characters as they are, or a unique prefix
// (as human tables show them, like git's abbreviated commits) looked up in the store.
import { BadInputError, NotFoundError } from '../lib/errors.js';
import { hashesWithPrefix } from '../lib/store/browse.js';
import { isInfoHash } from '../lib/validate.js';
import type { Session } from './session.js';

export const MIN_PREFIX = 4;

/** `contacts`: also look in contacts' shares (for `get`); otherwise own torrents only. */
export async function resolveHash(session: Session, input: string, options: { contacts: boolean }): Promise<string> {
  if (isInfoHash(input as unknown)) return input.toLowerCase();
  if (!/^[0-9a-fA-F]+$/.test(input) || input.length < MIN_PREFIX || input.length > 40) {
    throw new BadInputError(`"${input}" is not an info-hash: give its 40 hex characters or a unique prefix of at least ${MIN_PREFIX}`);
  }
  const found = await hashesWithPrefix(await session.db(), input, options);
  const where = options.contacts ? '`bitween browse` and `bitween ls` list' : '`bitween ls` lists';
  if (found.length === 0) throw new NotFoundError(`no torrent matches ${input.toLowerCase()}: ${where} the known ones`);
  if (found.length > 1) throw new BadInputError(`${input.toLowerCase()} matches ${found.length === 10 ? 'many' : found.length} torrents: type more of the hash`);
  return found[0]!;
}
