/**
 * The usual bare Node proxy: node:http in, a keep-alive http.Agent out, the response piped back,
 * no checks at all. Not a contestant — a reference for what Node's HTTP client and server cost
 * together (the gate replaces the client side with its own, src/gate/proxy.ts).
 *
 *   node bench/lib/node-proxy.ts <listenPort> <upstreamOrigin>
 */
import http from 'node:http';

const [portArg, upstream] = process.argv.slice(2);
if (portArg === undefined || upstream === undefined) {
  throw new Error('usage: node-proxy.ts <listenPort> <upstreamOrigin>');
}
const target = new URL(upstream);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

const server = http.createServer((req, res) => {
  const headers = { ...req.headers };
  delete headers.connection;
  const forwarded = http.request(
    { host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  forwarded.on('error', () => {
    res.statusCode = 502;
    res.end();
  });
  req.pipe(forwarded);
});
server.keepAliveTimeout = 300_000;
server.listen(Number(portArg), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
