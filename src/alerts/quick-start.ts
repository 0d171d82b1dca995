/** The quick-start flag `--alert-webhook URL` as a notifier config (kept light: no notifier code loads). */
import { notifierSchema, type NotifierConfig } from '../config/alerts.ts';
import { MoatError } from '../core/errors.ts';

/**
 * The notifier for the quick-start flag `--alert-webhook URL`: a generic JSON webhook, or Slack or
 * Discord when the URL is one of their incoming-webhook URLs (they want their own message format).
 */
export function webhookFromUrl(
  url: string,
  options: { secret?: string; name?: string } = {},
): NotifierConfig {
  let raw: Record<string, unknown> = {
    type: 'webhook',
    url,
    ...(options.secret === undefined ? {} : { secret: options.secret }),
  };
  if (URL.canParse(url)) {
    const parsed = new URL(url);
    if (parsed.hostname === 'hooks.slack.com') raw = { type: 'slack', url };
    if (
      (parsed.hostname === 'discord.com' || parsed.hostname === 'discordapp.com') &&
      parsed.pathname.startsWith('/api/webhooks/')
    ) {
      raw = { type: 'discord', url };
    }
  }
  const result = notifierSchema.safeParse({ ...raw, name: options.name ?? 'alert-webhook' });
  if (!result.success) {
    const issue = result.error.issues[0];
    const what = issue?.path.includes('secret')
      ? 'the webhook secret must be at least 16 characters'
      : 'not an http:// or https:// URL';
    throw new MoatError('MOAT_USAGE', `--alert-webhook: ${what}`, {
      hint: 'Give the full URL of the receiver, e.g. --alert-webhook https://hooks.example.com/moat',
    });
  }
  return result.data;
}
