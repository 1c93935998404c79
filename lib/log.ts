// One pino logger per service: JSON lines on stdout (what `pm2 logs` shows), each naming the service.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(service: string, level = 'info'): Logger {
  return pino({ name: `bitween-${service}`, level, base: { service, pid: process.pid } });
}
