// Why a torrent failed, as a stable code and one line for people: what the store keeps (error_code,
// error_reason), `torrent_error` carries and `bitween ls` shows. The codes are listed in README.md.
import { errorMessage } from '../../lib/errors.js';

export interface Failure {
  code: string;
  reason: string;
}

/** The longest reason kept: one line, not a stack or a payload. */
const MAX_REASON = 300;

export function oneLine(text: string): string {
  const line = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return line.length > MAX_REASON ? `${line.slice(0, MAX_REASON - 1)}…` : line;
}

/** A torrent's own error (webtorrent destroyed it) as a failure the user can act on. */
export function classifyTorrentError(err: unknown, savePath: string): Failure {
  const code = (err as { code?: unknown })?.code;
  const message = errorMessage(err);
  if (typeof code === 'string' && code.startsWith('E_')) return { code, reason: oneLine(message) };
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return { code: 'E_DISK_FULL', reason: oneLine(`disk full writing to ${savePath}: free some space, then \`bitween recheck\` to continue`) };
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return { code: 'E_WRITE_FAILED', reason: oneLine(`cannot write to ${savePath} (${code}): check the folder's permissions, then \`bitween recheck\``) };
  }
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
    return { code: 'E_WRITE_FAILED', reason: oneLine(`${message}: fix the disk, then \`bitween recheck\``) };
  }
  if (/torrent|metadata|info hash|bencode|parse/i.test(message)) return { code: 'E_BAD_METADATA', reason: oneLine(`unusable metadata: ${message}`) };
  return { code: 'E_WRITE_FAILED', reason: oneLine(message) };
}
