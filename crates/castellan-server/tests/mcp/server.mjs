// A small MCP server protected by Castellan's forward-auth, as nginx `auth_request` would do:
// every request is first checked with GET <castellan>/forward-auth carrying the original method,
// URL and credentials; a refusal is relayed (status, WWW-Authenticate, body) so that the MCP
// host can discover Castellan and step up. Usage: node server.mjs <port> <castellan base URL>
import http from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

const [port, castellan] = process.argv.slice(2);

async function forwardAuth(req) {
  const headers = {
    'x-forwarded-method': req.method,
    'x-forwarded-uri': req.url,
    'x-forwarded-host': req.headers.host ?? `127.0.0.1:${port}`,
    'x-forwarded-proto': 'http',
  };
  for (const name of ['authorization', 'dpop']) {
    if (req.headers[name] !== undefined) headers[name] = req.headers[name];
  }
  return fetch(`${castellan}/forward-auth`, { headers });
}

async function handle(req, res) {
  const verdict = await forwardAuth(req);
  if (verdict.status !== 200) {
    const headers = { 'content-type': verdict.headers.get('content-type') ?? 'application/json' };
    for (const name of ['www-authenticate', 'dpop-nonce', 'retry-after']) {
      const value = verdict.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    res.writeHead(verdict.status, headers);
    res.end(await verdict.text());
    return;
  }
  const identity = {
    subject: verdict.headers.get('x-castellan-subject'),
    client: verdict.headers.get('x-castellan-client-id'),
    scopes: verdict.headers.get('x-castellan-scopes'),
    credential: verdict.headers.get('x-castellan-credential'),
  };
  const server = new McpServer({ name: 'castellan-test-tools', version: '1.0.0' });
  server.registerTool(
    'whoami',
    { description: 'Answers the identity Castellan vouched for' },
    async () => ({ content: [{ type: 'text', text: JSON.stringify(identity) }] }),
  );
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
  });
  res.on('close', () => {
    transport.close();
    server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res);
}

http
  .createServer((req, res) => {
    handle(req, res).catch((e) => {
      console.error(e);
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
  })
  .listen(Number(port), '127.0.0.1', () => console.log('READY'));
