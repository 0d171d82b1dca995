/**
 * A test that needs a real part (redis-server, memcached, sshd, PostgreSQL…) may skip on a
 * developer's machine that lacks it, saying why; under CI (`CI` set, where .ci/run installs and
 * starts everything) a missing part fails instead, so a broken install step can never pass as a skip.
 */
export function unlessInCi(reason: string | undefined): string | undefined {
  if (reason !== undefined && process.env['CI']) {
    throw new Error(`${reason} — CI must provide it (see .ci/run)`);
  }
  return reason;
}
