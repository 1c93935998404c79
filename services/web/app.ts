// The HTTP server: the static page, the JSON API and the rules every request passes first
// (Host, token, JSON-only same-origin POSTs), with one error shape: {"error": "<one line>"}.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Config } from '../../lib/config.js';
import { BitweenError } from '../../lib/errors.js';
import { redact } from '../../lib/store/pool.js';
import type { Logger } from '../../lib/log.js';
import { bearerMatches, hostAllowed, isJsonContentType, originAllowed } from './access.js';
import { registerApi, type ApiContext } from './api.js';

/** services/web/public/ at the package root (this file runs from dist/services/web/): no build step. */
export const PUBLIC_DIR = fileURLToPath(new URL('../../../services/web/public/', import.meta.url));

const STATIC_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/** The page itself holds no data: served without the token. Everything else needs it when one is set. */
const PUBLIC_ROUTES = new Set([...Object.keys(STATIC_FILES), '/favicon.ico']);

/**
 * Scripts and styles only from the dashboard's own files, no inline script, no images, no frames: even a
 * contact's name that slipped into markup could not run or load anything.
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // The page may be opened with ?token=…: never pass that URL on.
  'referrer-policy': 'no-referrer',
};

const STATUS_BY_CODE: Record<string, number> = { E_BAD_INPUT: 400, E_NOT_FOUND: 404, E_UNAVAILABLE: 503 };

/** Connection failures (refused, reset, timed out) and Postgres's own "cannot connect now" / shutdown classes. */
function storeUnreachable(err: { code?: unknown }): boolean {
  const code = typeof err.code === 'string' ? err.code : '';
  return /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|57P0[1-3]|08\w{3})$/.test(code) || /Connection terminated/.test(String((err as Error).message));
}

function refuse(reply: FastifyReply, status: number, error: string) {
  return reply.code(status).header('cache-control', 'no-store').send({ error });
}

export function buildApp(config: Config, log: Logger, ctx: ApiContext): FastifyInstance {
  const app = Fastify({
    loggerInstance: log.child({ component: 'http' }) as FastifyBaseLogger,
    // Requests are not logged one by one (progress polling, the token in `?token=`); actions log themselves.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
    // Open tabs hold keep-alive sockets (and event streams): at shutdown close them all, the page reconnects.
    forceCloseConnections: true,
  });

  app.addHook('onRequest', async (req, reply) => {
    void reply.headers(SECURITY_HEADERS);
    if (!hostAllowed(req.headers.host, config)) {
      return refuse(reply, 403, `unexpected Host header ${JSON.stringify(req.headers.host ?? '')}: open the dashboard by this machine's loopback address, or set BITWEEN_WEB_TOKEN`);
    }
    // Decided by the route the router matched, not by the raw URL: it decodes `/%61pi/…` to `/api/…`.
    if ((req.method === 'GET' || req.method === 'HEAD') && PUBLIC_ROUTES.has(req.routeOptions.url ?? '')) return;
    void reply.header('cache-control', 'no-store');
    if (config.webToken !== undefined && !bearerMatches(req.headers.authorization, config.webToken)) {
      void reply.header('www-authenticate', 'Bearer realm="bitween"');
      return refuse(reply, 401, 'this dashboard needs its token (BITWEEN_WEB_TOKEN): send `Authorization: Bearer <token>`, or open the page with ?token=<token>');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      if (!isJsonContentType(req.headers['content-type'])) return refuse(reply, 415, 'send the request body as JSON (Content-Type: application/json)');
      if (!originAllowed(req.headers.origin, req.headers.host)) return refuse(reply, 403, `requests from ${req.headers.origin} are not allowed: use the dashboard's own page`);
    }
  });

  app.setErrorHandler((err: FastifyError | BitweenError, req, reply) => {
    if (err instanceof BitweenError) {
      const status = STATUS_BY_CODE[err.code] ?? 500;
      if (status === 500) req.log.error({ err }, err.message);
      return refuse(reply, status, err.message);
    }
    if (storeUnreachable(err)) return refuse(reply, 503, `cannot reach Postgres at ${redact(config.databaseUrl)}: is PostgreSQL running?`);
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 ? err.statusCode : 500;
    if (status >= 500) req.log.error({ err }, `request failed: ${err.message}`);
    return refuse(reply, status, status >= 500 ? 'internal error: see the bitween-web log' : err.message);
  });
  app.setNotFoundHandler((req, reply) => refuse(reply, 404, `no such page: ${req.method} ${req.url.split('?')[0]}`));

  for (const [route, { file, type }] of Object.entries(STATIC_FILES)) {
    // Read once: the page is a few kilobytes and must not change under a running service.
    const body = readFileSync(`${PUBLIC_DIR}${file}`);
    app.get(route, (req, reply) => reply.type(type).header('cache-control', 'no-cache').send(body));
  }
  app.get('/favicon.ico', (req, reply) => reply.code(204).send());

  registerApi(app, { ...ctx, jid: config.jid });
  return app;
}
