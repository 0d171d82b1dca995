/**
 * One run of an HTTP(S) or TCP check: did it answer, how fast, with what, and how long is its
 * certificate still valid. Never throws: every failure is a result with a reason.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';
import type { CheckConfig } from '../config/guard.ts';
import { MoatError } from '../core/errors.ts';

export interface CheckResult {
  readonly ok: boolean;
  /** Why it failed, or what it saw when it passed (`200 in 12 ms`). */
  readonly reason: string;
  readonly latencyMs: number;
  readonly status?: number;
  readonly certDaysLeft?: number;
}

const MAX_BODY_BYTES = 1_048_576;
const DAY_MS = 86_400_000;

/** Whether a status matches `200`, `2xx` or `20x`. */
export function statusMatches(status: number, patterns: readonly (number | string)[]): boolean {
  const text = String(status);
  return patterns.some((pattern) => {
    if (typeof pattern === 'number') return pattern === status;
    return [...pattern].every((c, i) => c === 'x' || c === text[i]);
  });
}

/** Days from `nowMs` until a certificate's `valid_to` (`Mar  1 12:00:00 2030 GMT`), rounded down. */
export function daysLeft(validTo: string, nowMs: number): number | undefined {
  const until = Date.parse(validTo);
  return Number.isNaN(until) ? undefined : Math.floor((until - nowMs) / DAY_MS);
}

/** Reads a check's CA file once, at start-up (a missing file is a config error). */
export function loadCheckCa(check: CheckConfig): Buffer | undefined {
  if (check.ca === undefined) return undefined;
  try {
    return readFileSync(check.ca);
  } catch (error) {
    throw new MoatError(
      'MOAT_CONFIG_INVALID',
      `guard.checks ${check.name}: ca ${check.ca}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      { hint: 'Give a readable PEM file of the CA that signed the service’s certificate.' },
    );
  }
}

export function runHttpCheck(
  check: CheckConfig,
  ca: Buffer | undefined,
  nowMs: number,
): Promise<CheckResult> {
  const url = new URL(check.http as string);
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: CheckResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      resolve(result);
    };
    const options: https.RequestOptions = {
      method: 'GET',
      headers: { 'user-agent': 'moat-guard', accept: '*/*' },
      agent: false,
      ...(url.protocol === 'https:'
        ? { rejectUnauthorized: !check.insecure, ...(ca === undefined ? {} : { ca }) }
        : {}),
    };
    const request = (url.protocol === 'https:' ? https : http).request(url, options, (response) => {
      const status = response.statusCode ?? 0;
      let certDaysLeft: number | undefined;
      const socket = response.socket as TLSSocket;
      if (typeof socket.getPeerCertificate === 'function') {
        const cert = socket.getPeerCertificate();
        if (cert?.valid_to) certDaysLeft = daysLeft(cert.valid_to, nowMs);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        if (check.bodyContains === undefined || size >= MAX_BODY_BYTES) return;
        chunks.push(chunk);
        size += chunk.length;
      });
      response.on('error', (error) =>
        finish({ ok: false, reason: `reading the body: ${error.message}`, latencyMs: elapsed(), status }),
      );
      response.on('end', () => {
        const latencyMs = elapsed();
        const base = { latencyMs, status, ...(certDaysLeft === undefined ? {} : { certDaysLeft }) };
        const problems: string[] = [];
        if (!statusMatches(status, check.status))
          problems.push(`status ${status} (expected ${check.status.join(', ')})`);
        if (check.bodyContains !== undefined) {
          const body = Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES).toString('utf8');
          if (!body.includes(check.bodyContains))
            problems.push(`the body does not contain "${check.bodyContains}"`);
        }
        if (check.maxLatency !== undefined && latencyMs > check.maxLatency) {
          problems.push(`answered in ${latencyMs} ms (limit ${check.maxLatency} ms)`);
        }
        if (
          check.minCertDays !== undefined &&
          certDaysLeft !== undefined &&
          certDaysLeft < check.minCertDays
        ) {
          problems.push(`the certificate expires in ${certDaysLeft} days (limit ${check.minCertDays})`);
        }
        finish(
          problems.length > 0
            ? { ok: false, reason: problems.join('; '), ...base }
            : { ok: true, reason: `${status} in ${latencyMs} ms`, ...base },
        );
      });
    });
    const timer = setTimeout(
      () => finish({ ok: false, reason: `no answer within ${check.timeout} ms`, latencyMs: elapsed() }),
      check.timeout,
    );
    request.on('error', (error: NodeJS.ErrnoException) =>
      finish({
        ok: false,
        reason: error.code ? `${error.code}: ${error.message}` : error.message,
        latencyMs: elapsed(),
      }),
    );
    request.end();
  });
}

/** `host:port` or `[v6]:port` → parts. */
export function splitTcpTarget(target: string): { host: string; port: number } {
  const colon = target.lastIndexOf(':');
  return { host: target.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(target.slice(colon + 1)) };
}

export function runTcpCheck(check: CheckConfig): Promise<CheckResult> {
  const { host, port } = splitTcpTarget(check.tcp as string);
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    let settled = false;
    const socket = net.connect({ host, port });
    const finish = (result: CheckResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(
      () => finish({ ok: false, reason: `no connection within ${check.timeout} ms`, latencyMs: elapsed() }),
      check.timeout,
    );
    socket.once('connect', () => {
      const latencyMs = elapsed();
      if (check.maxLatency !== undefined && latencyMs > check.maxLatency) {
        finish({
          ok: false,
          reason: `connected in ${latencyMs} ms (limit ${check.maxLatency} ms)`,
          latencyMs,
        });
      } else {
        finish({ ok: true, reason: `connected in ${latencyMs} ms`, latencyMs });
      }
    });
    socket.once('error', (error: NodeJS.ErrnoException) =>
      finish({
        ok: false,
        reason: error.code ? `${error.code}: ${error.message}` : error.message,
        latencyMs: elapsed(),
      }),
    );
  });
}
