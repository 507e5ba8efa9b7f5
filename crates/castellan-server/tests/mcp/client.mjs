// A real MCP host: the official TypeScript SDK's client with its OAuth support. It connects to
// the MCP server, is refused, discovers Castellan (RFC 9728, RFC 8414), identifies itself by its
// client ID metadata document URL, and prints the authorization URL; the test signs a person in,
// consents, and writes the code back on stdin. The host then exchanges it (PKCE, `resource`),
// reconnects and calls a tool. Usage:
//   node client.mjs <MCP server URL> <client metadata document URL> <redirect URI>
// Prints lines `AUTHORIZE <url>`, `TOKENS <json>` and `RESULT <json>`.
import readline from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const [serverUrl, documentUrl, redirectUrl] = process.argv.slice(2);
// `-`: no metadata document; the host then registers dynamically (RFC 7591). An https URL is
// handed to the SDK as its client metadata document URL. The SDK takes only https URLs there,
// while the test serves its document over http on loopback (which Castellan accepts in its
// `local` environment): such a URL is given to the SDK as the client's id, known beforehand,
// which is what the SDK does with a document URL it accepts.
const clientMetadataUrl = documentUrl.startsWith('https://') ? documentUrl : undefined;
const knownClientId = documentUrl.startsWith('http://') ? documentUrl : undefined;
const input = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

class Provider {
  get redirectUrl() {
    return redirectUrl;
  }
  get clientMetadataUrl() {
    return clientMetadataUrl;
  }
  get clientMetadata() {
    return {
      client_name: 'Castellan MCP test host',
      redirect_uris: [redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() {
    return this.client ?? (knownClientId && { client_id: knownClientId });
  }
  saveClientInformation(info) {
    this.client = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens) {
    this.saved = tokens;
    console.log(
      'TOKENS ' +
        JSON.stringify({
          client_id: this.client?.client_id,
          token_type: tokens.token_type,
          scope: tokens.scope,
          access_token: tokens.access_token,
        }),
    );
  }
  redirectToAuthorization(url) {
    console.log('AUTHORIZE ' + url.href);
  }
  saveCodeVerifier(verifier) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
}

// Every answer that is not a success is written to stderr, so a failing test shows why.
async function loggingFetch(url, init) {
  const res = await fetch(url, init);
  if (res.status >= 400) {
    console.error(`${init?.method ?? 'GET'} ${url}: ${res.status} ${await res.clone().text()}`);
  }
  return res;
}

const provider = new Provider();
const client = new Client({ name: 'castellan-mcp-test-host', version: '1.0.0' });
let transport = new StreamableHTTPClientTransport(new URL(serverUrl), { authProvider: provider, fetch: loggingFetch });
try {
  await client.connect(transport);
} catch (e) {
  if (!(e instanceof UnauthorizedError)) throw e;
  const { value } = await input.next();
  await transport.finishAuth(value.trim());
  transport = new StreamableHTTPClientTransport(new URL(serverUrl), { authProvider: provider, fetch: loggingFetch });
  await client.connect(transport);
}
const tools = await client.listTools();
const result = await client.callTool({ name: 'whoami', arguments: {} });
console.log('RESULT ' + JSON.stringify({ tools: tools.tools.map((t) => t.name), result }));
await client.close();
process.exit(0);
