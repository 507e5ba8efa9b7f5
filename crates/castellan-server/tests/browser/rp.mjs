// A relying party built on openid-client (a certified OpenID Connect library), for the Chromium
// tests: it finishes an authorization-code flow from the URL the browser landed on, and prints
// the claims of the ID token the library validated (signature against the JWKS, iss, aud,
// exp, iat, the iss of the redirect, PKCE, state) and the ID token itself as JSON on stdout:
// {"claims": {…}, "id_token": "…"}.
//
// Environment: ISSUER, CLIENT_ID, CALLBACK_URL (with code, state and iss), VERIFIER, STATE.
import * as client from "openid-client";

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set`);
  }
  return v;
};

const config = await client.discovery(
  new URL(env("ISSUER")),
  env("CLIENT_ID"),
  undefined,
  client.None(),
  // The test server speaks plain HTTP on localhost.
  { execute: [client.allowInsecureRequests] },
);
// Verify the ID token's signature too (by default the library trusts the TLS channel).
client.enableNonRepudiationChecks(config);
const tokens = await client.authorizationCodeGrant(config, new URL(env("CALLBACK_URL")), {
  pkceCodeVerifier: env("VERIFIER"),
  expectedState: env("STATE"),
  idTokenExpected: true,
});
process.stdout.write(JSON.stringify({ claims: tokens.claims(), id_token: tokens.id_token }));
