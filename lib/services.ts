// The services of one bitween node, named once: pm2's apps (ecosystem.config.js), the stop order
// (`bitween stop`), and the list `bitween status` and the dashboard always show. No imports, so that
// ecosystem.config.js can load it cheaply.

/** In pm2's start order: torrent first (it stores its listen port), nat maps it, xmpp publishes, web shows. */
export const SERVICES = ['torrent', 'nat', 'xmpp', 'web'] as const;

export type ServiceName = (typeof SERVICES)[number];

/**
 * INTERFACE.md §1: the dashboard first, then xmpp (withdraws the shares while the rest still runs), torrent
 * (saves its state), nat last (removes the router mappings).
 */
export const STOP_ORDER: readonly ServiceName[] = ['web', 'xmpp', 'torrent', 'nat'];

/** The pm2 app that runs `service`. */
export function appName(service: ServiceName): string {
  return `bitween-${service}`;
}

export function isServiceName(name: string): name is ServiceName {
  return (SERVICES as readonly string[]).includes(name);
}
