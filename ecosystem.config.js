// pm2 apps of one bitween node: `pm2 start ecosystem.config.js` (npm start), ordered stop with `npm stop`.
// pm2 loads this file with require(); Node >= 20.19 can require an ES module, and pm2 reads the named
// export `apps` from it (a default export alone is not found: pm2 would see only `{ default }`).
//
// Start order torrent, nat, xmpp, web: with `wait_ready`, pm2 starts the next app once the previous one has
// subscribed to its topics (it sends 'ready'), when the pm2 CLI runs with PM2_CONCURRENT_ACTIONS=1 (pm2 starts
// two at a time by default). The services do not depend on the order (each reads current state from the store
// on start); the order only saves a round of catching up.
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));

/** Settings every bitween app shares. */
const common = {
  cwd: root, // where `.env` is read
  exec_mode: 'fork',
  instances: 1,
  wait_ready: true,
  // Past this pm2 starts the next app anyway (e.g. a service waiting for Postgres to come up).
  listen_timeout: 30000,
  // The services finish their shutdown within 8 s (lib/shutdown.ts) and exit 0; pm2 kills after 10 s.
  kill_timeout: 10000,
  // 0: stopped on purpose (the `exit` topic); 78: configuration or schema error (lib/service.ts). Neither
  // is a crash, and restarting would only repeat it.
  stop_exit_codes: [0, 78],
  // No restart_delay / exp_backoff_restart_delay: with either set, pm2 7 shows an app that exited with a
  // stop_exit_codes code as 'waiting restart' forever instead of 'stopped'. A crash loop still ends: after
  // max_restarts (16) exits within min_uptime (1 s) pm2 marks the app errored.
  merge_logs: true,
  time: true,
};

export const apps = ['torrent', 'nat', 'xmpp', 'web'].map((service) => ({
  ...common,
  name: `bitween-${service}`,
  script: `dist/services/${service}/index.js`,
}));

export default { apps };
