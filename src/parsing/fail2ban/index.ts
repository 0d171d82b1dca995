/**
 * fail2ban compatibility: read a fail2ban filter (.conf with its includes) and compile it into a moat
 * parser. See README.md.
 */
export type { Fail2banDefinition } from './definition.ts';
export { resolveDefinition } from './definition.ts';
export { describeFilter } from './describe.ts';
export { compileFail2banFilter } from './filter.ts';
export { Ini, type IniFile, parseIniFile } from './ini.ts';
export { type FilterFileReader, loadFail2banFilter, readFail2banFilterFiles } from './load.ts';
export { parseFilterSpec } from './spec.ts';
export type {
  Fail2banFilter,
  Fail2banFilterOptions,
  Fail2banLineParser,
  Fail2banMatch,
  Fail2banParser,
  Fail2banParserStats,
} from './types.ts';
