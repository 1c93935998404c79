// Why a torrent failed, as a stable code (lib/errors.ts) and one line for people: what the store keeps
// (error_code, error_reason), `torrent_error` carries and `bitween ls` shows.
import { errorCode, errorMessage, type ErrorCode } from '../../lib/errors.js';

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

/** What the user can do about each code a torrent's own error maps to. */
const ADVICE: Partial<Record<ErrorCode, (savePath: string) => string>> = {
  E_DISK_FULL: (p) => `disk full writing to ${p}: free some space, then \`bitween recheck\` to continue`,
  E_WRITE_FAILED: (p) => `cannot write or read torrent data in ${p}: fix the disk or the folder's permissions, then \`bitween recheck\``,
};

/** A torrent's own error (webtorrent destroyed it) as a failure the user can act on. */
export function classifyTorrentError(err: unknown, savePath: string): Failure {
  const message = errorMessage(err);
  let code: ErrorCode = errorCode(err);
  // webtorrent's own errors carry no code: a parse failure is the metadata's fault, anything else the disk's.
  if (code === 'E_INTERNAL' || code === 'E_NOT_FOUND' || code === 'E_UNAVAILABLE') {
    code = /torrent|metadata|info ?hash|bencode|parse/i.test(message) ? 'E_BAD_METADATA' : 'E_WRITE_FAILED';
  }
  const advice = ADVICE[code];
  return { code, reason: oneLine(advice ? `${advice(savePath)} (${message})` : message) };
}
