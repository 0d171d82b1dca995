/**
 * Where a Redis dump must never be written: the places an attacker points `dir` / `dbfilename` at
 * to plant a crontab, an SSH key or a web shell (incident 2). Pure.
 */

export type DangerousPlace = 'cron' | 'ssh' | 'web root' | 'system';

const CRON_SEGMENTS = new Set([
  'cron',
  'crontabs',
  'cron.d',
  'cron.hourly',
  'cron.daily',
  'cron.weekly',
  'cron.monthly',
  'anacron',
]);
const WEB_SEGMENTS = new Set(['www', 'htdocs', 'public_html', 'wwwroot', 'webroot', 'html']);
const SYSTEM_PREFIXES = ['/etc', '/root', '/boot', '/bin', '/sbin', '/lib', '/lib64', '/usr', '/var/spool'];

/** What kind of place a directory is, when a dump there could run as code or grant access. */
export function dangerousDir(dir: string): DangerousPlace | undefined {
  const segments = dir.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.some((s) => CRON_SEGMENTS.has(s))) return 'cron';
  if (segments.some((s) => s === '.ssh')) return 'ssh';
  if (segments.some((s) => WEB_SEGMENTS.has(s))) return 'web root';
  const normal = `/${segments.join('/')}`;
  if (SYSTEM_PREFIXES.some((prefix) => normal === prefix || normal.startsWith(`${prefix}/`))) {
    return 'system';
  }
  return undefined;
}

const DANGEROUS_FILES = new Set([
  'authorized_keys',
  'authorized_keys2',
  'root',
  'crontab',
  '.bashrc',
  '.bash_profile',
  '.profile',
  'passwd',
  'shadow',
  'sudoers',
]);

/** Why a dump file name is suspicious (a crontab, key file, script or web page), or undefined. */
export function dangerousFilename(name: string): string | undefined {
  const base = name.slice(name.lastIndexOf('/') + 1);
  if (DANGEROUS_FILES.has(base)) return `"${base}" is read by cron, sshd, a shell or the system`;
  if (/\.(php\d?|phtml|phar|jsp|jspx|aspx?|cgi|pl|py|sh|so|html?)$/i.test(base)) {
    return `"${base}" is a script, library or page another program would run or serve`;
  }
  return undefined;
}
