/**
 * The `alerts` section: the notifiers (webhook, Slack, Discord, Telegram, email) and how the queue in
 * front of them groups, deduplicates, retries and rate-limits. Secrets may be written inline or,
 * better, read from a file (`secretFile`, `urlFile`, `tokenFile`, `passwordFile`) that only moat can read.
 */
import { z } from 'zod';
import { duration, port } from './fields.ts';

const severity = z.enum(['info', 'warning', 'critical']);

const httpUrl = z
  .string()
  .regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, 'an http:// or https:// URL')
  .refine((value) => URL.canParse(value), 'an http:// or https:// URL');

/** Keys every notifier has. */
const common = {
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_.-]*$/, 'a short name like ops-slack')
    .optional()
    .describe('Name in logs and in `moat alerts test`. Default: the type. Names must be distinct.'),
  minSeverity: severity
    .default('info')
    .describe('Messages below this severity are not sent to this notifier.'),
  maxPerMinute: z
    .number()
    .int()
    .min(1)
    .max(600)
    .optional()
    .describe('Rate limit for this notifier (default: alerts.maxPerMinute).'),
  timeout: duration.default(10_000).describe('How long one delivery may take before it counts as failed.'),
};

const secretFile = z.string().min(1);

const webhookSchema = z
  .strictObject({
    type: z.literal('webhook'),
    ...common,
    url: httpUrl.describe('Where the JSON is POSTed. Logged only as its origin.'),
    secret: z
      .string()
      .min(16, 'a key of at least 16 characters (e.g. `openssl rand -hex 32`)')
      .optional()
      .describe('HMAC-SHA256 key: each request carries X-Moat-Signature over timestamp and body.'),
    secretFile: secretFile.optional().describe('A file holding the HMAC key (instead of `secret`).'),
    headers: z
      .record(z.string().regex(/^[A-Za-z0-9-]+$/, 'an HTTP header name'), z.string())
      .default({})
      .describe('Extra request headers, e.g. Authorization. Their values are treated as secrets.'),
  })
  .refine((n) => n.secret === undefined || n.secretFile === undefined, {
    message: 'give secret or secretFile, not both',
    path: ['secretFile'],
  });

const slackSchema = z
  .strictObject({
    type: z.literal('slack'),
    ...common,
    url: httpUrl.optional().describe('The Slack incoming-webhook URL (it embeds a token: prefer urlFile).'),
    urlFile: secretFile.optional().describe('A file holding the incoming-webhook URL.'),
  })
  .refine((n) => (n.url === undefined) !== (n.urlFile === undefined), {
    message: 'give exactly one of url or urlFile',
    path: ['url'],
  });

const discordSchema = z
  .strictObject({
    type: z.literal('discord'),
    ...common,
    url: httpUrl.optional().describe('The Discord channel webhook URL (it embeds a token: prefer urlFile).'),
    urlFile: secretFile.optional().describe('A file holding the webhook URL.'),
  })
  .refine((n) => (n.url === undefined) !== (n.urlFile === undefined), {
    message: 'give exactly one of url or urlFile',
    path: ['url'],
  });

const telegramSchema = z
  .strictObject({
    type: z.literal('telegram'),
    ...common,
    token: z
      .string()
      .regex(/^\d+:[A-Za-z0-9_-]+$/, 'a bot token like 123456:ABC-DEF… from @BotFather')
      .optional()
      .describe('The bot token (prefer tokenFile).'),
    tokenFile: secretFile.optional().describe('A file holding the bot token.'),
    chatId: z
      .union([z.number().int(), z.string().regex(/^(-?\d+|@[A-Za-z0-9_]{5,})$/, 'a chat id or @channel')])
      .describe('The chat, group (negative id) or @channel the bot writes to.'),
    apiUrl: httpUrl.default('https://api.telegram.org').describe('The Bot API server.'),
  })
  .refine((n) => (n.token === undefined) !== (n.tokenFile === undefined), {
    message: 'give exactly one of token or tokenFile',
    path: ['token'],
  });

const emailAddress = z.string().regex(/^[^\s@<>]+@[^\s@<>]+$/, 'an address like ops@example.com');

const emailSchema = z
  .strictObject({
    type: z.literal('email'),
    ...common,
    host: z.string().min(1).describe('The SMTP server.'),
    port: port
      .optional()
      .describe('SMTP port. Default: 465 with security tls, 587 with starttls, 25 with none.'),
    security: z
      .enum(['starttls', 'tls', 'none'])
      .default('starttls')
      .describe(
        '`starttls`: plain connect, then STARTTLS is required (no fallback). `tls`: TLS from the first byte (port 465). `none`: no encryption; only for a relay on this host.',
      ),
    caFile: z
      .string()
      .min(1)
      .optional()
      .describe(
        'PEM file of the CA that signed the server certificate (a private relay); default: system CAs.',
      ),
    user: z.string().min(1).optional().describe('SMTP login, when the server wants one.'),
    password: z.string().min(1).optional().describe('SMTP password (prefer passwordFile).'),
    passwordFile: secretFile.optional().describe('A file holding the SMTP password.'),
    from: emailAddress.describe('Envelope and header sender.'),
    to: z.array(emailAddress).min(1).describe('Recipients.'),
    subjectPrefix: z.string().max(40).default('[moat]').describe('Put before every subject.'),
  })
  .refine((n) => n.password === undefined || n.passwordFile === undefined, {
    message: 'give password or passwordFile, not both',
    path: ['passwordFile'],
  })
  .refine((n) => n.user !== undefined || (n.password === undefined && n.passwordFile === undefined), {
    message: 'a password needs user',
    path: ['user'],
  })
  .refine((n) => n.user === undefined || n.password !== undefined || n.passwordFile !== undefined, {
    message: 'user needs password or passwordFile',
    path: ['password'],
  });

export const notifierSchema = z
  .discriminatedUnion('type', [webhookSchema, slackSchema, discordSchema, telegramSchema, emailSchema])
  .describe('One delivery channel; `type` is webhook, slack, discord, telegram or email.');

export const alertsSchema = z
  .strictObject({
    notifiers: z
      .array(notifierSchema)
      .default([])
      .superRefine((notifiers, context) => {
        const seen = new Set<string>();
        for (const [index, notifier] of notifiers.entries()) {
          const name = notifier.name ?? notifier.type;
          if (seen.has(name)) {
            context.addIssue({
              code: 'custom',
              message: `a second notifier named ${name}; give each a distinct name`,
              path: [index, 'name'],
            });
          }
          seen.add(name);
        }
      })
      .describe('Where alerts go. Empty: alerts are only logged by the components that raise them.'),
    groupWindow: duration
      .default(5000)
      .describe('Alerts of one incident arriving this close together become one message.'),
    dedupeWindow: duration
      .default(600_000)
      .describe(
        'After an incident was sent, repeats of it (same severity or lower) are counted, not re-sent.',
      ),
    banSummaryThreshold: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(5)
      .describe('More ban alerts than this in one grouping window become one summary message.'),
    maxPerMinute: z
      .number()
      .int()
      .min(1)
      .max(600)
      .default(20)
      .describe(
        'Messages per minute per notifier; the excess is folded into one summary when the minute is up.',
      ),
    retry: z
      .strictObject({
        attempts: z
          .number()
          .int()
          .min(1)
          .max(20)
          .default(5)
          .describe('Tries per message, the first included.'),
        initialDelay: duration
          .default(2000)
          .describe('Wait before the first retry; doubled each time, with jitter.'),
        maxDelay: duration.default(300_000).describe('The wait between tries never exceeds this.'),
      })
      .prefault({})
      .describe('Failed deliveries are retried with exponential backoff, then dropped (and logged).'),
    maxPending: z
      .number()
      .int()
      .min(10)
      .max(1_000_000)
      .default(1000)
      .describe('Cap on alerts waiting in the queue; beyond it new alerts are dropped and counted.'),
  })
  .describe('Alerts: where moat tells a human what happened (see docs/alerts.md).');

export type AlertsConfig = z.output<typeof alertsSchema>;
export type NotifierConfig = z.output<typeof notifierSchema>;
export type NotifierInput = z.input<typeof notifierSchema>;
