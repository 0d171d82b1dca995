/**
 * The least a Node proxy that keeps Node's strict HTTP parser for its clients can do: node:http in,
 * and upstream one raw keep-alive socket per request in flight, the request head written by hand
 * and the answer framed by Content-Length only (what the benchmark's upstream sends). No checks,
 * no chunked answers, no error handling worth the name. Not a contestant and not a proxy to use:
 * a reference for what the gate's own work costs on top of Node's server.
 *
 *   node bench/lib/node-raw-proxy.ts <listenPort> <upstreamOrigin>
 */
import http from 'node:http';
import net from 'node:net';

const [portArg, upstream] = process.argv.slice(2);
if (portArg === undefined || upstream === undefined) {
  throw new Error('usage: node-raw-proxy.ts <listenPort> <upstreamOrigin>');
}
const target = new URL(upstream);
const idle: net.Socket[] = [];
const LENGTH = /content-length: *(\d+)/i;

function connect(): net.Socket {
  const socket = net.connect(Number(target.port), target.hostname);
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  return socket;
}

const server = http.createServer((req, res) => {
  const socket = idle.pop() ?? connect();
  let head = `${req.method} ${req.url} HTTP/1.1\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  socket.write(`${head}\r\n`, 'latin1');
  let buffered = '';
  const onData = (chunk: Buffer) => {
    buffered += chunk.toString('latin1');
    const end = buffered.indexOf('\r\n\r\n');
    if (end < 0) return;
    const length = Number(LENGTH.exec(buffered.slice(0, end))?.[1] ?? 0);
    if (buffered.length - end - 4 < length) return;
    socket.off('data', onData);
    idle.push(socket);
    const lines = buffered.slice(0, end).split('\r\n');
    const headers: string[] = [];
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      const colon = line.indexOf(':');
      const name = line.slice(0, colon);
      if (name.toLowerCase() !== 'connection') headers.push(name, line.slice(colon + 1).trim());
    }
    res.writeHead(Number((lines[0] as string).slice(9, 12)), headers);
    res.end(buffered.slice(end + 4, end + 4 + length), 'latin1');
  };
  socket.on('data', onData);
});
server.keepAliveTimeout = 300_000;
server.listen(Number(portArg), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
