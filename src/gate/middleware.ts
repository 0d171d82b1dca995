/**
 * The gate's policy (client IP, bans, deny rules, nginx-style rate limits) in front of an app that
 * serves itself: Express middleware, a Fastify plugin, and a node:http handler wrapper.
 *
 *   const policy = createGatePolicy(gateSchema.parse({ zones: [...], limit: [...], deny: [...] }), { bans });
 *   app.use(expressGate(policy));                 // Express
 *   await fastify.register(fastifyGate(policy));  // Fastify (applies to every route)
 *   http.createServer(withGate(policy, handler)); // node:http
 *
 * A rejected request is answered here (status, Retry-After and RateLimit headers, a one-line text
 * body) or its connection closed (deny action `close`), and never reaches the app. A passed request
 * gets the RateLimit headers set on its response; one that limit_req would delay (a burst without
 * nodelay) is held by one timer, cleared if the client goes away first. Nothing else is timed.
 *
 * No framework is imported: the adapters are typed structurally, so moat needs neither Express nor
 * Fastify installed.
 */
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import { type Clock, systemClock } from '../core/clock.ts';
import type { GatePolicy, Verdict } from './types.ts';

export interface GateMiddlewareOptions {
  /** Time for the rate limits (tests inject a manual clock). Default: the system clock. */
  readonly clock?: Clock;
  /** Sees every verdict before it is acted on (logging, metrics, access events). Must not throw. */
  readonly onVerdict?: (verdict: Verdict, req: IncomingMessage) => void;
}

const verdicts = new WeakMap<IncomingMessage, Verdict>();

/** The verdict the gate gave a request (the resolved client address is `clientIp`). */
export function gateVerdict(req: IncomingMessage): Verdict | undefined {
  return verdicts.get(req);
}

function decide(policy: GatePolicy, req: IncomingMessage, options: GateMiddlewareOptions): Verdict {
  const verdict = policy.check(
    {
      socketIp: req.socket.remoteAddress ?? '',
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
    },
    (options.clock ?? systemClock).now(),
  );
  verdicts.set(req, verdict);
  options.onVerdict?.(verdict, req);
  return verdict;
}

function bodyFor(status: number): string {
  return `${STATUS_CODES[status] ?? 'Refused'}\n`;
}

/** Answers a rejection on a plain response (or closes the connection). */
function answer(
  verdict: Extract<Verdict, { action: 'reject' }>,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  if (verdict.status === 'close') {
    req.socket.destroy();
    return;
  }
  if (res.headersSent) {
    res.end();
    return;
  }
  const body = bodyFor(verdict.status);
  res.statusCode = verdict.status;
  for (const [name, value] of Object.entries(verdict.headers)) res.setHeader(name, value);
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

/** Calls `next` now, or after `delayMs` unless the response closes first. */
function proceed(delayMs: number, res: ServerResponse, next: () => void): void {
  if (delayMs <= 0) {
    next();
    return;
  }
  const timer = setTimeout(() => {
    res.off('close', cancel);
    next();
  }, delayMs);
  const cancel = (): void => clearTimeout(timer);
  res.once('close', cancel);
}

function setHeaders(res: ServerResponse, headers: Readonly<Record<string, string>>): void {
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
}

/** Express (or Connect) middleware: `app.use(expressGate(policy))`, first in the chain. */
export function expressGate(
  policy: GatePolicy,
  options: GateMiddlewareOptions = {},
): (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void {
  return function moatGate(req, res, next) {
    let verdict: Verdict;
    try {
      verdict = decide(policy, req, options);
    } catch (error) {
      next(error);
      return;
    }
    if (verdict.action === 'reject') {
      answer(verdict, req, res);
      return;
    }
    setHeaders(res, verdict.headers);
    proceed(verdict.delayMs, res, () => next());
  };
}

/** A node:http request listener behind the gate: `http.createServer(withGate(policy, handler))`. */
export function withGate(
  policy: GatePolicy,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  options: GateMiddlewareOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const middleware = expressGate(policy, options);
  return function gatedHandler(req, res) {
    middleware(req, res, (error) => {
      if (error === undefined) {
        handler(req, res);
        return;
      }
      if (!res.headersSent) {
        res.statusCode = 500;
        res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      }
      res.end(bodyFor(500));
    });
  };
}

/** The parts of a Fastify request and reply the hook uses. */
export interface FastifyRequestLike {
  readonly raw: IncomingMessage;
}
export interface FastifyReplyLike {
  readonly raw: ServerResponse;
  code(statusCode: number): FastifyReplyLike;
  header(name: string, value: string): FastifyReplyLike;
  send(payload?: string): FastifyReplyLike;
}
export type FastifyHookDone = (error?: Error) => void;

/** A Fastify `onRequest` hook: `fastify.addHook('onRequest', fastifyGateHook(policy))`. */
export function fastifyGateHook(
  policy: GatePolicy,
  options: GateMiddlewareOptions = {},
): (request: FastifyRequestLike, reply: FastifyReplyLike, done: FastifyHookDone) => void {
  return function moatGate(request, reply, done) {
    const req = request.raw;
    let verdict: Verdict;
    try {
      verdict = decide(policy, req, options);
    } catch (error) {
      done(error as Error);
      return;
    }
    if (verdict.action === 'reject') {
      if (verdict.status === 'close') {
        req.socket.destroy();
        return;
      }
      reply.code(verdict.status);
      for (const [name, value] of Object.entries(verdict.headers)) reply.header(name, value);
      reply.header('content-type', 'text/plain; charset=utf-8').send(bodyFor(verdict.status));
      return;
    }
    for (const [name, value] of Object.entries(verdict.headers)) reply.header(name, value);
    proceed(verdict.delayMs, reply.raw, () => done());
  };
}

/** The part of a Fastify instance the plugin uses. */
export interface FastifyLike {
  addHook(
    name: 'onRequest',
    hook: (request: FastifyRequestLike, reply: FastifyReplyLike, done: FastifyHookDone) => void,
  ): unknown;
}

/**
 * A Fastify plugin: `await fastify.register(fastifyGate(policy))`. It skips Fastify's
 * encapsulation (as fastify-plugin does), so the hook guards every route of the instance.
 */
export function fastifyGate(
  policy: GatePolicy,
  options: GateMiddlewareOptions = {},
): (instance: FastifyLike, opts: unknown, done: FastifyHookDone) => void {
  const hook = fastifyGateHook(policy, options);
  const plugin = function moatGatePlugin(instance: FastifyLike, _opts: unknown, done: FastifyHookDone): void {
    instance.addHook('onRequest', hook);
    done();
  };
  Object.assign(plugin, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: 'moat-gate',
  });
  return plugin;
}
