// Baseline A of the HTTP benchmark: the least a webhook can do. Bare node:https with
// tokenguard's certificate and keep-alive timeout; each POST body read to the end and
// JSON.parse'd, and a canned AdmissionReview sent back. argv: certFile keyFile.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const [certFile, keyFile] = process.argv.slice(2);
const canned = JSON.stringify({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  response: { uid: '11111111-2222-4333-8444-555555555555', allowed: true },
});
const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let status = 200;
    try {
      JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      status = 400;
    }
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(canned) });
    res.end(canned);
  });
});
server.keepAliveTimeout = 120_000;
server.listen(0, '127.0.0.1', () =>
  process.stdout.write(`${JSON.stringify({ event: 'listening', port: server.address().port })}\n`),
);
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
