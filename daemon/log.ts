// The root logger: JSON lines on stdout (the journal under systemd). Subsystems take child
// loggers ({ mod: 'api' }); secrets are redacted wherever they appear in a log object.
import { pino, type Logger, type DestinationStream } from 'pino';

export function rootLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { svc: 'ironbay' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['req.headers.authorization', '*.password', '*.token', 'token', 'password', '*.headers.authorization'],
        censor: '[redacted]',
      },
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}
