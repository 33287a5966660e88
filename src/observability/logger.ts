// pino logger with the redaction every event goes through. Events carry a fixed `event` field
// (PRODUCT.md "Logs"); secrets are never passed in, and redaction is the second wall if one slips through.
import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';
import type { LogConfig } from '../config/types.js';

export type { Logger };

const REDACT_PATHS = [
  'password', '*.password', 'verifier', '*.verifier', 'secret', '*.secret', 'scram', '*.scram',
  'upstreamPassword', '*.upstreamPassword', 'params.password', 'config.users[*].password',
];

export function createLogger(config: Pick<LogConfig, 'level' | 'format'>, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level: config.level,
    base: { service: 'ysqlgate' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (config.format === 'pretty' && !destination) {
    if (prettyAvailable()) {
      const pretty = pino.transport({ target: 'pino-pretty', options: { colorize: true } });
      return pino(options, pretty);
    }
    // pino-pretty is a development convenience, not a dependency of the image: fall back to JSON, say so once.
    const logger = pino(options);
    logger.warn({ event: 'log.pretty_unavailable' }, 'log.format pretty needs the pino-pretty package; logging JSON');
    return logger;
  }
  return destination ? pino(options, destination as pino.DestinationStream) : pino(options);
}

function prettyAvailable(): boolean {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
