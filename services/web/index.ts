// bitween-web: the dashboard. Own torrents with live progress, contacts' shares with search and download,
// share a path, remove a torrent, the services' status; live over server-sent events from the bus.
import { UnavailableError, errorMessage } from '../../lib/errors.js';
import { runService } from '../../lib/service.js';
import { healthy } from '../../lib/status.js';
import { baseUrl, checkWebConfig } from './access.js';
import { buildApp } from './app.js';
import { Relay } from './relay.js';
import { readDashboardStatus } from './status.js';

await runService(
  'web',
  async ({ config, log, bus, db }) => {
    const relay = new Relay(config.redisUrl, config.namespace, log, () => readDashboardStatus(bus.redis, config.namespace, db));
    await relay.start();
    const app = buildApp(config, log, { redisUrl: config.redisUrl, db, bus, relay });
    const url = baseUrl(config.webHost, config.webPort);
    try {
      await app.listen({ host: config.webHost, port: config.webPort });
    } catch (err) {
      await relay.close();
      throw new UnavailableError(`cannot listen on ${url}: ${errorMessage(err)} (set BITWEEN_WEB_PORT to a free port, BITWEEN_WEB_HOST to an address of this machine)`);
    }
    log.info({ url, token: config.webToken !== undefined }, `dashboard at ${url}`);

    return {
      handlers: {},
      facts: () => ({ url, token: config.webToken !== undefined, viewers: relay.count, health: healthy(`dashboard at ${url}`) }),
      async stop() {
        // Open event streams would hold the server's close; the pages reconnect to the next instance.
        relay.endStreams();
        await app.close();
      },
      async close() {
        await relay.close();
      },
    };
  },
  { checkConfig: checkWebConfig },
);
