/**
 * Wall-clock time → epoch milliseconds for the zone a log is written in: the host's local zone (what
 * fail2ban assumes), UTC, a fixed offset (`UTC+0200`, `-05:00`, `CET` — fail2ban's `logtimezone`
 * forms) or an IANA name (`Europe/Berlin`). Conversions are cached per hour, so the per-line cost is
 * arithmetic. Pure apart from reading the host's zone rules through Date/Intl.
 */

export interface Zone {
  readonly name: string;
  /** Epoch ms of a wall-clock time in this zone (month 1–12). */
  toEpochMs(year: number, month: number, day: number, hour: number, minute: number, second: number): number;
  /** The calendar year/month/day of an instant in this zone. */
  dateOf(epochMs: number): { year: number; month: number; day: number };
}

/** fail2ban's zone abbreviations (strptime.py TZ_STR), offset in minutes. */
const ABBREVIATIONS: Readonly<Record<string, number>> = (() => {
  const table = `-12 Y|-11 X NUT SST|-10 W CKT HAST HST TAHT TKT|-9 V AKST GAMT GIT HADT HNY|-8 U AKDT CIST HAY HNP PST PT
|-7 T HAP HNR MST PDT|-6 S CST EAST GALT HAR HNC MDT|-5 R CDT COT EASST ECT EST ET HAC HNE PET
|-4 Q AST BOT CLT COST EDT FKT GYT HAE HNA PYT|-3 P ADT ART BRT CLST FKST GFT HAA PMST PYST SRT UYT WGT
|-2 O BRST FNT PMDT UYST WGST|-1 N AZOT CVT EGT|0 Z EGST GMT UTC WET WT|1 A CET DFT WAT WEDT WEST
|2 B CAT CEDT CEST EET SAST WAST|3 C EAT EEDT EEST IDT MSK|4 D AMT AZT GET GST KUYT MSD MUT RET SAMT SCT
|5 E AMST AQTT AZST HMT MAWT MVT PKT TFT TJT TMT UZT YEKT|6 F ALMT BIOT BTT IOT KGT NOVT OMST YEKST
|7 G CXT DAVT HOVT ICT KRAT NOVST OMSST THA WIB|8 H ACT AWST BDT BNT CAST HKT IRKT KRAST MYT PHT SGT ULAT WITA WST
|9 I AWDT IRKST JST KST PWT TLT WDT WIT YAKT|10 K AEST ChST PGT VLAT YAKST YAPT|11 L AEDT LHDT MAGT NCT PONT SBT VLAST VUT
|12 M ANAST ANAT FJT GILT MAGST MHT NZST PETST PETT TVT WFT|13 FJST NZDT|11.5 NFT|10.5 ACDT LHST|9.5 ACST|6.5 CCT MMT
|5.75 NPT|5.5 SLT|4.5 AFT IRDT|3.5 IRST|-2.5 HAT NDT|-3.5 HNT NST NT|-4.5 HLV VET|-9.5 MART MIT`;
  const out: Record<string, number> = { '': 0 };
  for (const row of table.replaceAll('\n', '').split('|')) {
    const [offset, ...names] = row.trim().split(/\s+/);
    for (const name of names) out[name] = Math.round(Number(offset) * 60);
  }
  return out;
})();

/**
 * A zone abbreviation and/or offset as fail2ban writes them (`CET`, `UTC+0200`, `-05:00`, `+03`) in
 * minutes east of UTC; undefined when not one.
 */
export function parseZoneOffset(text: string): number | undefined {
  if (text === 'Z' || text === 'UTC' || text === 'GMT') return 0;
  const m = /^([A-Z](?:[A-Za-z]{2,4})?)?(?:([+-])([01]\d)(?::?(\d{2}))?)?$/.exec(text);
  if (!m || (m[1] === undefined && m[2] === undefined)) return undefined;
  const base = ABBREVIATIONS[m[1] ?? ''];
  if (base === undefined) return undefined;
  if (m[2] === undefined) return base;
  const minutes = Number(m[3]) * 60 + Number(m[4] ?? 0);
  return base + (m[2] === '-' ? -minutes : minutes);
}

function fixedZone(name: string, offsetMinutes: number): Zone {
  const offsetMs = offsetMinutes * 60_000;
  return {
    name,
    toEpochMs: (y, mo, d, h, mi, s) => Date.UTC(y, mo - 1, d, h, mi, s) - offsetMs,
    dateOf(epochMs) {
      const date = new Date(epochMs + offsetMs);
      return { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate() };
    },
  };
}

/** Caches the start of the last hour asked for: log lines come in time order. */
function hourCached(hourStart: (y: number, mo: number, d: number, h: number) => number) {
  let lastKey = -1;
  let lastStart = 0;
  return (y: number, mo: number, d: number, h: number, mi: number, s: number): number => {
    const key = ((y * 13 + mo) * 32 + d) * 24 + h;
    if (key !== lastKey) {
      lastKey = key;
      lastStart = hourStart(y, mo, d, h);
    }
    return lastStart + mi * 60_000 + s * 1000;
  };
}

function localZone(): Zone {
  return {
    name: 'local',
    toEpochMs: hourCached((y, mo, d, h) => new Date(y, mo - 1, d, h, 0, 0).getTime()),
    dateOf(epochMs) {
      const date = new Date(epochMs);
      return { year: date.getFullYear(), month: date.getMonth() + 1, day: date.getDate() };
    },
  };
}

function ianaZone(name: string): Zone | undefined {
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  } catch {
    return undefined;
  }
  const wall = (epochMs: number) => {
    const parts: Record<string, number> = {};
    for (const p of format.formatToParts(epochMs)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
    return parts as {
      year: number;
      month: number;
      day: number;
      hour: number;
      minute: number;
      second: number;
    };
  };
  const offsetAt = (epochMs: number): number => {
    const w = wall(epochMs);
    return (
      Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - Math.floor(epochMs / 1000) * 1000
    );
  };
  return {
    name,
    toEpochMs: hourCached((y, mo, d, h) => {
      const asUtc = Date.UTC(y, mo - 1, d, h, 0, 0);
      const first = asUtc - offsetAt(asUtc);
      return asUtc - offsetAt(first);
    }),
    dateOf(epochMs) {
      const w = wall(epochMs);
      return { year: w.year, month: w.month, day: w.day };
    },
  };
}

/** `local` (default), `UTC`, a fixed offset or abbreviation, or an IANA zone name. */
export function zoneFromName(name = 'local'): Zone | undefined {
  if (name === 'local') return localZone();
  const offset = parseZoneOffset(name);
  if (offset !== undefined) return fixedZone(name, offset);
  return ianaZone(name);
}
