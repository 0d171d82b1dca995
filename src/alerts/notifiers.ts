/**
 * The delivery channels: generic webhook (JSON, HMAC-signed), Slack, Discord, Telegram, email (SMTP
 * through nodemailer). Each turns an AlertMessage into the service's format and rejects with a
 * DeliveryError whose message carries no secret.
 */
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import nodemailer from 'nodemailer';
import type { NotifierConfig } from '../config/alerts.ts';
import { MoatError } from '../core/errors.ts';
import type { Logger } from '../daemon/log.ts';
import { DeliveryError, describeNetworkError, postJson } from './http.ts';
import { truncate } from './messages.ts';
import { createRedactor, readSecret, safeOrigin, type Redactor } from './secrets.ts';
import type { AlertMessage, AlertSeverity, Notifier } from './types.ts';

export interface NotifierDeps {
  readonly logger: Logger;
  /** This host's name, shown in every message (several hosts may alert to one channel). */
  readonly host: string;
  /** The config path of this notifier (`alerts.notifiers[2]`), for error messages. */
  readonly where: string;
  /** Wall-clock seconds for signature timestamps. Default: Date.now(). */
  readonly now?: () => number;
}

/** A notifier as moat builds it: the contract, plus where it delivers (safe to log) and its limits. */
export interface ConfiguredNotifier extends Notifier {
  /** Scheme, host and port of the endpoint; never a path, token or password. */
  readonly endpoint: string;
  readonly minSeverity: AlertSeverity;
  readonly maxPerMinute: number | undefined;
  /** Scrubs this notifier's secrets from a text. */
  readonly redactor: Redactor;
}

/** Builds one notifier from its (validated) config; reads secret files now. */
export function createNotifier(config: NotifierConfig, deps: NotifierDeps): ConfiguredNotifier {
  switch (config.type) {
    case 'webhook':
      return webhookNotifier(config, deps);
    case 'slack':
      return incomingWebhookNotifier(config, deps, slackPayload);
    case 'discord':
      return incomingWebhookNotifier(config, deps, discordPayload);
    case 'telegram':
      return telegramNotifier(config, deps);
    case 'email':
      return emailNotifier(config, deps);
  }
}

type Of<T extends NotifierConfig['type']> = Extract<NotifierConfig, { type: T }>;

function base(config: NotifierConfig, redactor: Redactor, endpoint: string) {
  return {
    name: config.name ?? config.type,
    type: config.type,
    endpoint,
    minSeverity: config.minSeverity,
    maxPerMinute: config.maxPerMinute,
    redactor,
  };
}

/** Makes sure whatever a deliver() throws is a DeliveryError with a scrubbed message. */
function guarded(
  redactor: Redactor,
  timeoutMs: number,
  deliver: (message: AlertMessage) => Promise<void>,
): (message: AlertMessage) => Promise<void> {
  return async (message) => {
    try {
      await deliver(message);
    } catch (error) {
      if (error instanceof DeliveryError) throw error;
      throw new DeliveryError(redactor.redact(describeNetworkError(error, timeoutMs)));
    }
  };
}

/** A URL whose path carries a token: the whole URL and its path are secrets. */
function secretUrl(redactor: Redactor, url: string): void {
  redactor.add(url);
  try {
    const parsed = new URL(url);
    redactor.add(parsed.pathname + parsed.search);
    for (const segment of parsed.pathname.split('/')) if (segment.length >= 16) redactor.add(segment);
  } catch {
    // validated by the schema
  }
}

const SEVERITY_LABEL: Readonly<Record<AlertSeverity, string>> = {
  info: 'INFO',
  warning: 'WARNING',
  critical: 'CRITICAL',
};

// ---------------------------------------------------------------------------------------------------
// Generic webhook

/** The headers of a signed webhook request. */
export const SIGNATURE_HEADER = 'x-moat-signature';
export const TIMESTAMP_HEADER = 'x-moat-timestamp';
export const DELIVERY_HEADER = 'x-moat-delivery';

/** `sha256=<hex>` of HMAC-SHA256(secret, `<timestamp>.<body>`): what receivers recompute. */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

function webhookNotifier(config: Of<'webhook'>, deps: NotifierDeps): ConfiguredNotifier {
  const redactor = createRedactor();
  const secret = readSecret(config.secret, config.secretFile, `${deps.where}.secretFile`, deps.logger);
  if (secret !== undefined && secret.length < 16) {
    throw new MoatError(
      'MOAT_SECRET_FILE',
      `${deps.where}.secretFile: the key is shorter than 16 characters`,
      {
        hint: 'Use a random key, e.g. `openssl rand -hex 32 > FILE`.',
      },
    );
  }
  redactor.add(secret);
  // The URL may carry a token in its path or query; only its origin is ever shown.
  const origin = safeOrigin(config.url);
  if (config.url !== origin && config.url !== `${origin}/`) secretUrl(redactor, config.url);
  for (const value of Object.values(config.headers)) {
    redactor.add(value);
    redactor.add(value.replace(/^\S+\s+/, '')); // the token of `Bearer <token>`
  }
  const now = deps.now ?? Date.now;
  return {
    ...base(config, redactor, origin),
    deliver: guarded(redactor, config.timeout, async (message) => {
      const body = JSON.stringify({ host: deps.host, ...message });
      const timestamp = String(Math.floor(now() / 1000));
      const headers: Record<string, string> = {
        ...config.headers,
        // Equal for every retry of one message, so receivers can drop duplicates.
        [DELIVERY_HEADER]: createHash('sha256').update(body).digest('hex').slice(0, 32),
        [TIMESTAMP_HEADER]: timestamp,
      };
      if (secret !== undefined) headers[SIGNATURE_HEADER] = signWebhook(secret, timestamp, body);
      await postJson({ url: config.url, body, headers, timeoutMs: config.timeout, redactor });
    }),
  };
}

// ---------------------------------------------------------------------------------------------------
// Slack

/** Slack mrkdwn control characters; attacker-chosen text must not become links or @channel. */
function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function slackPayload(message: AlertMessage, host: string): Record<string, unknown> {
  const title = `[${SEVERITY_LABEL[message.severity]}] ${message.title}`;
  return {
    text: truncate(`${title} (${host})`, 3000),
    blocks: [
      {
        type: 'section',
        text: { type: 'mrkdwn', text: truncate(`*${slackEscape(title)}*`, 3000), verbatim: true },
      },
      {
        type: 'section',
        text: { type: 'mrkdwn', text: slackEscape(truncate(message.text, 2900)), verbatim: true },
      },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: slackEscape(`moat on ${host} · ${new Date(message.at).toISOString()}`),
            verbatim: true,
          },
        ],
      },
    ],
  };
}

/** Slack and Discord: a secret incoming-webhook URL and a JSON body of the service's own shape. */
function incomingWebhookNotifier(
  config: Of<'slack'> | Of<'discord'>,
  deps: NotifierDeps,
  payload: (message: AlertMessage, host: string) => Record<string, unknown>,
): ConfiguredNotifier {
  const redactor = createRedactor();
  const url = readSecret(config.url, config.urlFile, `${deps.where}.urlFile`, deps.logger) as string;
  checkUrl(url, `${deps.where}.urlFile`);
  secretUrl(redactor, url);
  return {
    ...base(config, redactor, safeOrigin(url)),
    deliver: guarded(redactor, config.timeout, async (message) => {
      const body = JSON.stringify(payload(message, deps.host));
      await postJson({ url, body, timeoutMs: config.timeout, redactor });
    }),
  };
}

function checkUrl(url: string, where: string): void {
  if (!/^https?:\/\//.test(url) || !URL.canParse(url)) {
    throw new MoatError('MOAT_SECRET_FILE', `${where}: the file does not hold an http(s) URL`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Discord

const DISCORD_COLOUR: Readonly<Record<AlertSeverity, number>> = {
  info: 0x3b82f6,
  warning: 0xf59e0b,
  critical: 0xdc2626,
};

/** Discord: `content` at most 2000 characters, an embed description at most 4096; nobody is pinged. */
export function discordPayload(message: AlertMessage, host: string): Record<string, unknown> {
  return {
    username: 'moat',
    content: truncate(`**[${SEVERITY_LABEL[message.severity]}]** ${message.title}`, 2000),
    embeds: [
      {
        description: truncate(message.text, 4096),
        color: DISCORD_COLOUR[message.severity],
        footer: { text: truncate(`moat on ${host}`, 2048) },
        timestamp: new Date(message.at).toISOString(),
      },
    ],
    allowed_mentions: { parse: [] },
  };
}

// ---------------------------------------------------------------------------------------------------
// Telegram

function htmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** sendMessage with HTML parse mode (escaped); at most 4096 characters after parsing. */
export function telegramPayload(message: AlertMessage, host: string, chatId: string | number) {
  const title = truncate(`[${SEVERITY_LABEL[message.severity]}] ${message.title}`, 300);
  const footer = `moat on ${host}`;
  const text = truncate(message.text, 4096 - title.length - footer.length - 8);
  return {
    chat_id: chatId,
    text: `<b>${htmlEscape(title)}</b>\n\n${htmlEscape(text)}\n\n<i>${htmlEscape(footer)}</i>`,
    parse_mode: 'HTML',
    link_preview_options: { is_disabled: true },
  };
}

function telegramNotifier(config: Of<'telegram'>, deps: NotifierDeps): ConfiguredNotifier {
  const redactor = createRedactor();
  const token = readSecret(config.token, config.tokenFile, `${deps.where}.tokenFile`, deps.logger) as string;
  if (!/^\d+:[A-Za-z0-9_-]+$/.test(token)) {
    throw new MoatError('MOAT_SECRET_FILE', `${deps.where}.tokenFile: the file does not hold a bot token`, {
      hint: 'It should hold one line like 123456:ABC-DEF… as given by @BotFather.',
    });
  }
  redactor.add(token);
  redactor.add(token.slice(token.indexOf(':') + 1));
  const url = `${config.apiUrl.replace(/\/+$/, '')}/bot${token}/sendMessage`;
  return {
    ...base(config, redactor, safeOrigin(config.apiUrl)),
    deliver: guarded(redactor, config.timeout, async (message) => {
      const body = JSON.stringify(telegramPayload(message, deps.host, config.chatId));
      let answer;
      try {
        answer = await postJson({ url, body, timeoutMs: config.timeout, redactor });
      } catch (error) {
        throw telegramError(error, redactor);
      }
      const parsed = parseJson(answer.text) as { ok?: unknown } | undefined;
      if (parsed?.ok !== true) throw new DeliveryError('the Bot API did not answer ok:true');
    }),
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The Bot API explains failures in JSON: `{ ok: false, description, parameters: { retry_after } }`. */
function telegramError(error: unknown, redactor: Redactor): unknown {
  if (!(error instanceof DeliveryError)) return error;
  const match = /^HTTP (\d+): (.*)$/.exec(error.message);
  const parsed = match ? (parseJson(match[2] ?? '') as Record<string, unknown> | undefined) : undefined;
  if (!match || parsed === undefined || typeof parsed['description'] !== 'string') return error;
  const retry = (parsed['parameters'] as { retry_after?: unknown } | undefined)?.retry_after;
  const retryAfter = typeof retry === 'number' ? retry * 1000 : error.retryAfterMs;
  return new DeliveryError(redactor.redact(`HTTP ${match[1]}: ${parsed['description']}`), {
    permanent: error.permanent,
    ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter }),
  });
}

// ---------------------------------------------------------------------------------------------------
// Email

const DEFAULT_SMTP_PORT = { tls: 465, starttls: 587, none: 25 } as const;

export function emailSubject(message: AlertMessage, prefix: string): string {
  const subject = `${prefix} [${SEVERITY_LABEL[message.severity]}] ${message.title}`.replace(/[\r\n]+/g, ' ');
  return truncate(subject.trim(), 200);
}

function emailNotifier(config: Of<'email'>, deps: NotifierDeps): ConfiguredNotifier {
  const redactor = createRedactor();
  const password = readSecret(
    config.password,
    config.passwordFile,
    `${deps.where}.passwordFile`,
    deps.logger,
  );
  redactor.add(password);
  if (password !== undefined) {
    redactor.add(Buffer.from(`\u0000${config.user ?? ''}\u0000${password}`).toString('base64'));
    redactor.add(Buffer.from(password).toString('base64'));
  }
  let ca: string | undefined;
  if (config.caFile !== undefined) {
    try {
      ca = readFileSync(config.caFile, 'utf8');
    } catch (error) {
      throw new MoatError(
        'MOAT_SECRET_FILE',
        `${deps.where}.caFile: cannot read ${config.caFile} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`,
      );
    }
  }
  const port = config.port ?? DEFAULT_SMTP_PORT[config.security];
  const transport = nodemailer.createTransport({
    host: config.host,
    port,
    secure: config.security === 'tls',
    requireTLS: config.security === 'starttls',
    ignoreTLS: config.security === 'none',
    ...(config.user === undefined ? {} : { auth: { user: config.user, pass: password ?? '' } }),
    tls: { minVersion: 'TLSv1.2', ...(ca === undefined ? {} : { ca }) },
    name: deps.host,
    connectionTimeout: config.timeout,
    greetingTimeout: config.timeout,
    socketTimeout: config.timeout,
    dnsTimeout: config.timeout,
    logger: false,
    debug: false,
  });
  return {
    ...base(config, redactor, `smtp://${config.host}:${port}`),
    deliver: guarded(redactor, config.timeout, async (message) => {
      try {
        await transport.sendMail({
          from: config.from,
          to: [...config.to],
          subject: emailSubject(message, config.subjectPrefix),
          text: `${message.text}\n\n-- \nmoat on ${deps.host}, ${new Date(message.at).toISOString()}\n`,
          headers: { 'X-Moat-Severity': message.severity },
          signal: AbortSignal.timeout(config.timeout * 2),
        });
      } catch (error) {
        throw smtpError(error, redactor, config.timeout);
      }
    }),
  };
}

function smtpError(error: unknown, redactor: Redactor, timeoutMs: number): DeliveryError {
  const e = error as { code?: unknown; responseCode?: unknown; permanent?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : undefined;
  const text =
    error instanceof Error && error.name !== 'AbortError' && error.name !== 'TimeoutError'
      ? error.message
      : describeNetworkError(error, timeoutMs);
  return new DeliveryError(
    redactor.redact(code !== undefined && !text.includes(code) ? `${code}: ${text}` : text),
    {
      // A refused login or a refused recipient stays refused; a dropped connection may not.
      permanent: code === 'EAUTH' || e.permanent === true,
    },
  );
}
