/**
 * Secrets of the notifiers (tokens, passwords, signing keys, webhook URLs that embed tokens): read
 * once at start-up, inline or from a file, and scrubbed from every message moat logs or prints.
 */
import { readFileSync, statSync } from 'node:fs';
import { MoatError } from '../core/errors.ts';
import type { Logger } from '../daemon/log.ts';

const REDACTED = '[redacted]';

/** Replaces every known secret (and its URL-encoded form) in a text. */
export interface Redactor {
  add(secret: string | undefined): void;
  redact(text: string): string;
}

export function createRedactor(): Redactor {
  const secrets = new Set<string>();
  return {
    add(secret) {
      // Very short values ("1", "ok") would blank out ordinary words; no real secret is that short.
      if (secret === undefined || secret.length < 6) return;
      secrets.add(secret);
      const encoded = encodeURIComponent(secret);
      if (encoded !== secret) secrets.add(encoded);
    },
    redact(text) {
      let out = text;
      // Longest first, so a URL is replaced whole before the token inside it.
      for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
        if (out.includes(secret)) out = out.split(secret).join(REDACTED);
      }
      return out;
    },
  };
}

/**
 * The value of a secret given inline or as a file (`key` / `keyFile`); the file's content is trimmed
 * of surrounding whitespace. `where` is the config path, for the error.
 */
export function readSecret(
  inline: string | undefined,
  file: string | undefined,
  where: string,
  logger?: Logger,
): string | undefined {
  if (inline !== undefined) return inline;
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new MoatError('MOAT_SECRET_FILE', `${where}: cannot read ${file} (${code})`);
  }
  if (text === '') throw new MoatError('MOAT_SECRET_FILE', `${where}: ${file} is empty`);
  try {
    if ((statSync(file).mode & 0o004) !== 0) {
      logger?.log('warn', 'secret file is readable by every user; chmod 600 it', { key: where, file });
    }
  } catch {
    // Read a moment ago; a stat failure now changes nothing.
  }
  return text;
}

/** A URL as it may be logged: scheme, host and port only (paths and queries often carry tokens). */
export function safeOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
}
