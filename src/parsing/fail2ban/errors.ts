import { MoatError } from '../../core/errors.ts';

/** A fail2ban filter moat cannot read or compile. */
export function filterError(file: string, message: string, hint?: string): MoatError {
  return new MoatError('MOAT_FAIL2BAN_FILTER', `fail2ban filter ${file}: ${message}`, {
    hint:
      hint ??
      'Check the filter with `fail2ban-regex LOG FILTER.conf`; if fail2ban accepts it and moat does not, report it with the filter attached.',
  });
}
