/**
 * The Node stack the gate is measured against: Express 5 + express-rate-limit + http-proxy-middleware,
 * set up the way its documentation suggests, doing the same work as the gate and nginx in the
 * benchmark: the client from X-Forwarded-For of a trusted loopback peer, the same deny rules, one
 * rate limit per client address, and a keep-alive pool to the upstream.
 *
 *   node bench/lib/express-proxy.ts <listenPort> <upstreamOrigin> <ratePerSecond>
 *
 * Prints `listening <port>` once it accepts connections.
 */
import http from 'node:http';
import express from 'express';
import { rateLimit } from 'express-rate-limit';
import { createProxyMiddleware } from 'http-proxy-middleware';

const [portArg, upstream, rateArg] = process.argv.slice(2);
if (portArg === undefined || upstream === undefined || rateArg === undefined) {
  throw new Error('usage: express-proxy.ts <listenPort> <upstreamOrigin> <ratePerSecond>');
}

const app = express();
app.set('trust proxy', 'loopback');
app.disable('x-powered-by');

// The deny rules of the benchmark, as regular expressions over the path.
const deniedPath = /(\.php$)|(^\/\.env)|(^\/\.git\/)|(^\/wp-)/;
const deniedAgent = /sqlmap|nikto/i;
app.use((req, res, next) => {
  if (req.method === 'TRACE' || deniedPath.test(req.path)) {
    res.status(404).end();
    return;
  }
  if (deniedAgent.test(req.get('user-agent') ?? '')) {
    res.status(403).end();
    return;
  }
  next();
});

// express-rate-limit counts in fixed windows: `rate` per second as `rate` per 1 s window.
app.use(
  rateLimit({
    windowMs: 1000,
    limit: Number(rateArg),
    standardHeaders: 'draft-8',
    legacyHeaders: false,
  }),
);

app.use(
  createProxyMiddleware({
    target: upstream,
    xfwd: true,
    agent: new http.Agent({ keepAlive: true, maxSockets: 64 }),
  }),
);

const server = app.listen(Number(portArg), '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address !== null ? address.port : ''}\n`);
});
server.keepAliveTimeout = 300_000;
process.on('SIGTERM', () => server.close(() => process.exit(0)));
