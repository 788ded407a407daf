/** Minimal logger shape (pino satisfies it). */
export interface Logger {
  /** pino's level check; lets hot paths skip building log lines nobody will see. */
  isLevelEnabled?(level: string): boolean;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}
