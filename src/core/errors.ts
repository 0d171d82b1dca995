/**
 * Every error moat raises carries a stable `code`. Users and scripts match on the code, never on the
 * message. docs/errors.md is generated from ERRORS and a test keeps the two in step.
 */

export interface ErrorInfo {
  /** What happened, in one line. */
  readonly meaning: string;
  /** What to do about it. */
  readonly action: string;
}

export const ERRORS = {
  MOAT_USAGE: {
    meaning: 'The command line is not valid: unknown flag, missing argument, or a value of the wrong form.',
    action: 'Run `moat <command> --help` and correct the flag named in the message.',
  },
  MOAT_RUNTIME_TOO_OLD: {
    meaning: 'The Node.js running moat is older than 22.18.',
    action:
      'Run moat through `npx moat` in its folder (it brings Node 24), or install Node.js 22.18 or newer.',
  },
  MOAT_CONFIG_NOT_FOUND: {
    meaning: 'The configuration file named with --config does not exist or cannot be read.',
    action:
      'Check the path, or leave out --config to use /etc/moat/moat.yaml (absent is fine: every key has a default).',
  },
  MOAT_CONFIG_SYNTAX: {
    meaning: 'The configuration file is not valid YAML.',
    action: 'Fix the YAML at the line and column given; `moat config check --config FILE` re-checks it.',
  },
  MOAT_CONFIG_INVALID: {
    meaning: 'The configuration file is valid YAML but a key is unknown or a value is out of range.',
    action:
      'Each problem names its key path and the fix; see docs/config.md. Unknown keys are errors so that typos never pass silently.',
  },
  MOAT_ROOT_NOT_FOUND: {
    meaning: 'The directory given with --root does not exist or is not a directory.',
    action: 'Pass the top of a copied host tree, the folder that holds etc/ (and optionally proc/, var/).',
  },
  MOAT_FILE_NOT_FOUND: {
    meaning: 'A file named on the command line (for example with --compose) does not exist.',
    action: 'Check the path; with --root it is read under that root.',
  },
  MOAT_PROBE_TARGET: {
    meaning: 'A probe target is not an IP address, CIDR range or resolvable host name.',
    action: 'Give addresses like 203.0.113.7, 2001:db8::1, 198.51.100.0/28 or a host name that resolves.',
  },
  MOAT_PROBE_TOO_MANY: {
    meaning: 'The probe targets expand to more addresses than `probe.maxTargets` (default 256).',
    action: 'Narrow the ranges, or add --yes if you really mean to scan that many addresses you own.',
  },
  MOAT_PROBE_PORTS: {
    meaning: 'The --ports value is not a list of ports and ranges between 1 and 65535.',
    action: 'Use a form like `22,80,443,6379` or `1-1024,6379`.',
  },
  MOAT_FAIL2BAN_FILTER: {
    meaning: 'A fail2ban filter (.conf) cannot be read, or uses something moat cannot compile.',
    action:
      'The message names the file and the option. Check it with `fail2ban-regex LOG FILTER.conf`; if fail2ban accepts it and moat does not, report it with the filter attached.',
  },
  MOAT_FIREWALL_INACTIVE: {
    meaning: 'The configured firewall backend would not enforce bans: ufw is installed but inactive.',
    action: 'Enable it (`ufw enable`, after allowing your SSH port), or choose firewall.backend: nftables.',
  },
  MOAT_COMMAND_FAILED: {
    meaning: 'A system command moat ran (nginx -T, sshd -T, nft, iptables-save…) failed.',
    action: 'The message shows its exit status and stderr; run it by hand to see why.',
  },
  MOAT_STATE: {
    meaning: 'The state database (bans, read positions) cannot be opened or is from a newer moat.',
    action: 'Check --state-dir and its permissions; a database written by a newer moat needs that version.',
  },
  MOAT_LOCKOUT: {
    meaning:
      'A ban was refused because it would lock the operator out: loopback, a current SSH session, or an allowlisted range.',
    action: 'Ban a narrower target, or remove the address from the allowlist first if you really mean it.',
  },
  MOAT_SECRET_FILE: {
    meaning:
      'A secret file named in the configuration (secretFile, urlFile, tokenFile, passwordFile) cannot be read or is empty.',
    action:
      'The message names the key and the file. Check the path and that the user moat runs as can read it (chmod 600, owned by that user).',
  },
  MOAT_ALERTS_NONE: {
    meaning: '`moat alerts test` found no notifier to test.',
    action: 'Add one under alerts.notifiers (see docs/alerts.md), or check the name given with --notifier.',
  },
  MOAT_GATE_LISTEN: {
    meaning: 'The gate (or its metrics listener) cannot listen on the configured address.',
    action:
      'The message names the key and the reason: EADDRINUSE (another process has the port: pick another), EACCES (ports below 1024 need root or CAP_NET_BIND_SERVICE), EADDRNOTAVAIL (the address is not on this host).',
  },
  MOAT_GATE_TLS: {
    meaning: 'The certificate or key named in gate.tls cannot be read.',
    action:
      'Point gate.tls.cert and gate.tls.key at readable PEM files (the full chain, and its private key).',
  },
  MOAT_INTERNAL: {
    meaning: 'A bug in moat: something that should not happen did.',
    action: 'Re-run with --debug and report the stack trace.',
  },
} as const satisfies Record<string, ErrorInfo>;

export type ErrorCode = keyof typeof ERRORS;

export class MoatError extends Error {
  override readonly name = 'MoatError';
  readonly code: ErrorCode;
  /** A one-line suggestion printed after the message; defaults to the code's action. */
  readonly hint: string;

  constructor(code: ErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint ?? ERRORS[code].action;
  }
}

export function isMoatError(error: unknown): error is MoatError {
  return error instanceof MoatError;
}
