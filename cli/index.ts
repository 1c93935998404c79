#!/usr/bin/env node
// `bitween`: the command line of a bitween node (the thesis's `bitweenc` grown up). Each command is its own
// module; this file only declares the commands and their options. Config: the same environment and `.env`
// as the services (lib/config.ts). Exit codes: cli/run.ts.
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { VERSION } from '../lib/heartbeat.js';
import { browseCommand } from './browse.js';
import { contactsAddCommand, contactsCommand, contactsRemoveCommand } from './contacts.js';
import { filesCommand } from './files.js';
import { getCommand } from './get.js';
import { limitsCommand } from './limits.js';
import { logsCommand } from './logs.js';
import { lsCommand } from './ls.js';
import { pauseCommand, resumeCommand } from './pause.js';
import { recheckCommand } from './recheck.js';
import { rmCommand } from './rm.js';
import { EXIT, action, reportError, exitCodeFor } from './run.js';
import { shareCommand } from './share.js';
import { statusCommand } from './status.js';
import { stopApps } from './stop.js';

function seconds(value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value)) throw new InvalidArgumentError('give a number of seconds, e.g. 30 (0 waits for ever)');
  return Number(value);
}

function count(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('give a whole number, e.g. 50');
  return Number(value);
}

const program = new Command('bitween')
  .description('friend-to-friend file sharing: BitTorrent moves the bytes, XMPP is the address book')
  .version(VERSION, '-V, --version')
  .showSuggestionAfterError()
  // `contacts --json` and `contacts add JID --json` each mean their own command's option.
  .enablePositionalOptions()
  .exitOverride()
  .addHelpText(
    'after',
    `
Configuration: the BITWEEN_* environment variables over the node's .env:
$BITWEEN_HOME/.env, else ./.env, else the .env of the checkout bitween runs
from (what the services read).
Hashes: 40 hex characters, or a unique prefix of at least 4 (tables show 12).
Exit codes: 0 ok, 1 the request failed, 2 usage, 69 Redis, Postgres or a
service unreachable, 78 configuration or database schema.`,
  );

program
  .command('share')
  .description('share a file or folder: prints its info-hash once it is seeded')
  .argument('<path>', 'file or folder to share (it is seeded from where it lies)')
  .option('--json', 'print {infoHash, name, size, path}')
  .option('--timeout <seconds>', 'give up after this long (default: wait while the torrent service runs)', seconds)
  .action(action(shareCommand));

program
  .command('get')
  .description("fetch a contact's share by its info-hash")
  .argument('<hash>', 'info-hash (or a unique prefix of one that `bitween browse` shows)')
  .option('--to <dir>', 'folder to download into (default: BITWEEN_SAVE_PATH)')
  .option('--wait', 'show progress (peers, speed) and return once the download is complete; a hash no contact offers yet is added and waited for (without --wait: exit 1)')
  .option('--json', 'print {infoHash, name, size, state, savePath, seconds}')
  .option('--timeout <seconds>', 'give up waiting after this long (the download goes on)', seconds)
  .action(action(getCommand));

program
  .command('rm')
  .description('remove a torrent from this node')
  .argument('<hash>', 'info-hash or a unique prefix of one that `bitween ls` shows')
  .option('--delete-files', "also delete the downloaded files (a share's own files are never deleted)")
  .option('--json', 'print {infoHash, name, filesDeleted, savePath}')
  .option('--timeout <seconds>', 'give up after this long (default 60)', seconds)
  .action(action(rmCommand));

program
  .command('recheck')
  .description('verify what is on disk for a torrent (after an error, or files put back), then seed or continue')
  .argument('<hash>', 'info-hash or a unique prefix of one that `bitween ls` shows')
  .option('--json', 'print {infoHash, name, status, errorCode, errorReason} (exit 1 when it is not back)')
  .option('--timeout <seconds>', 'give up after this long (default: wait while the torrent service runs)', seconds)
  .action(action(recheckCommand));

program
  .command('pause')
  .description('stop a torrent\'s transfers (no download, no upload, not offered to contacts); kept across restarts')
  .argument('<hash>', 'info-hash or a unique prefix of one that `bitween ls` shows')
  .option('--json', 'print {infoHash, name, paused, status}')
  .option('--timeout <seconds>', 'give up after this long (default 60)', seconds)
  .action(action(pauseCommand));

program
  .command('resume')
  .description('restart a paused torrent: a download goes on, a share seeds again')
  .argument('<hash>', 'info-hash or a unique prefix of one that `bitween ls` shows')
  .option('--json', 'print {infoHash, name, paused, status}')
  .option('--timeout <seconds>', 'give up after this long (default 60)', seconds)
  .action(action(resumeCommand));

program
  .command('limits')
  .description('show or change the upload and download rate limits at run time (kept across restarts)')
  .option('--up <rate>', 'upload limit: bytes per second, or with K, M, G (binary: 500K, 1.5M); 0 = none')
  .option('--down <rate>', 'download limit, the same way; 0 = none')
  .option('--json', 'print {upload, download, from} (bytes per second; from: config or store)')
  .option('--timeout <seconds>', 'give up after this long (default 30)', seconds)
  .action(action(limitsCommand));

program
  .command('files')
  .description("list a torrent's files (index, selected, size, done); --select chooses which of a download to fetch")
  .argument('<hash>', 'info-hash or a unique prefix of one that `bitween ls` shows')
  .option('--select <list>', 'file indexes to fetch, e.g. 0,2 or 1-3, or all; kept across restarts')
  .option('--json', 'print {infoHash, name, selectedFiles, files: [{index, path, size, bytesDone, selected}]}')
  .option('--timeout <seconds>', 'give up after this long (default 30)', seconds)
  .action(action(filesCommand));

program
  .command('ls')
  .description('list own torrents: name, size, progress, state, peers, rates')
  .option('--json', 'print the list as JSON')
  .action(action(lsCommand));

program
  .command('browse')
  .description("list contacts' shares, with the contacts that offer each")
  .argument('[term]', 'only shares whose name holds every word of this (or whose hash starts with it)')
  .option('--json', 'print the list as JSON')
  .action(action(browseCommand));

const contacts = program
  .command('contacts')
  .description('list contacts and requests waiting for an answer')
  .option('--json', 'print the roster as JSON')
  .action(action(contactsCommand));

contacts
  .command('add')
  .description('ask someone to be a contact, or accept their request')
  .argument('<jid>', 'their address, e.g. friend@example.org')
  .option('--json', 'print the roster entry as JSON')
  .option('--timeout <seconds>', 'give up after this long (default 10)', seconds)
  .action(action(contactsAddCommand));

contacts
  .command('remove')
  .description('end the contact both ways; their shares disappear from browse')
  .argument('<jid>', 'their address')
  .option('--json', 'print {jid, removed} as JSON')
  .option('--timeout <seconds>', 'give up after this long (default 10)', seconds)
  .action(action(contactsRemoveCommand));

program
  .command('status')
  .description('each service up, degraded or down and why, since when, its ports and connections; Redis and Postgres')
  .option('--json', 'print the status as JSON')
  .option('--check', 'for cron and probes: print only what is not up, one line each; exit 1 if anything is, 0 if all is up')
  .action(action(statusCommand));

program
  .command('logs')
  .description("the services' logs (pm2's files in $PM2_HOME/logs), one readable line each")
  .argument('[service]', 'torrent, nat, xmpp or web (default: all, in time order)')
  .option('-f, --follow', 'keep printing new lines until Ctrl-C')
  .option('-n, --lines <n>', 'how many of the last lines to show first (default 20)', count)
  .action(async (service: string | undefined, options: { follow?: boolean; lines?: number }) => {
    try {
      await logsCommand(service, options);
    } catch (err) {
      reportError(err);
      process.exitCode = exitCodeFor(err);
    }
  });

program
  .command('stop')
  .description('stop the pm2 apps in order: web, xmpp, torrent, nat (what `npm stop` runs)')
  .action(async () => {
    try {
      await stopApps();
    } catch (err) {
      reportError(err);
      process.exitCode = exitCodeFor(err);
    }
  });

/** Usage errors as one line, like every other failure, pointing at the command's own help. */
function oneLineUsageErrors(command: Command, path: string): void {
  command.configureOutput({
    outputError: (text, write) => write(`bitween: ${text.replace(/^error: /, '').trim()} (see \`${path} --help\`)\n`),
  });
  for (const sub of command.commands) oneLineUsageErrors(sub, `${path} ${sub.name()}`);
}
oneLineUsageErrors(program, 'bitween');

try {
  await program.parseAsync();
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version end here too, with code 0.
    process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else {
    reportError(err);
    process.exitCode = exitCodeFor(err);
  }
}
// ioredis or pg may hold a socket for a moment after close; the answer is given, so leave now.
process.exit();
