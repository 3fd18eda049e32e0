import { type DestinationStream, type Logger as PinoLogger, pino } from "pino";

export type Logger = PinoLogger;

/**
 * REDACTED_PATHS lists every place a credential can appear in a log record. pino replaces them
 * with "[redacted]" before the line is written, so no token reaches the log even by mistake.
 */
export const REDACTED_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  "headers.authorization",
  "headers.cookie",
  "authorization",
  "password",
  "token",
  "secret",
  "*.password",
  "*.token",
  "*.secret",
];

/** createLogger returns the plane's JSON logger (pino), writing to stdout unless told otherwise. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "baseplate" },
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
