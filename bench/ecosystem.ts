// What pm2 gives each service (ecosystem.config.js): node's options and the environment. For benches that
// start the services themselves and must run them as `npm start` does.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { appName, type ServiceName } from '../lib/services.js';
import { ROOT } from '../test/helpers/process.js';

export interface EcosystemApp {
  nodeArgs: string[];
  env: Record<string, string>;
}

export async function ecosystemApp(service: ServiceName): Promise<EcosystemApp> {
  type App = { name: string; node_args?: string[]; env?: Record<string, string> };
  const { apps } = (await import(pathToFileURL(join(ROOT, 'ecosystem.config.js')).href)) as { apps: App[] };
  const app = apps.find((a) => a.name === appName(service));
  if (!app) throw new Error(`ecosystem.config.js has no app ${appName(service)}`);
  return { nodeArgs: app.node_args ?? [], env: app.env ?? {} };
}
