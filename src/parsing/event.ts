/**
 * The one constructor every parser uses, so that all ParsedEvents share one object shape (same keys,
 * same order). Absent fields are `undefined`-valued own properties.
 */
import type { ParsedEvent } from '../core/events.ts';

export type Fields = Record<string, string>;

export function makeEvent(
  at: number,
  source: string,
  service: string,
  kind: string,
  ip: string | undefined,
  method: string | undefined,
  path: string | undefined,
  status: number | undefined,
  bytes: number | undefined,
  userAgent: string | undefined,
  referer: string | undefined,
  host: string | undefined,
  user: string | undefined,
  fields: Fields | undefined,
): ParsedEvent {
  // The cast only erases `undefined` from the optional keys; readers treat undefined as absent.
  return {
    at,
    source,
    service,
    kind,
    ip,
    method,
    path,
    status,
    bytes,
    userAgent,
    referer,
    host,
    user,
    fields,
  } as ParsedEvent;
}

/** A service event (ssh, redis, nginx error): no HTTP fields. */
export function serviceEvent(
  at: number,
  source: string,
  service: string,
  kind: string,
  ip: string | undefined,
  user: string | undefined,
  fields: Fields | undefined,
): ParsedEvent {
  return makeEvent(
    at,
    source,
    service,
    kind,
    ip,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    user,
    fields,
  );
}
