// An organisation's OpenID provider for Kumppani's tests: panva's oidc-provider on loopback.
//
// Started by tests/openid_provider.py with one JSON argument:
//   {"port": 0, "client": {client metadata}, "accounts": {"login": {claims}}}
// It prints one line, {"issuer": "http://127.0.0.1:<port>"}, once it listens, and stops on SIGTERM
// or when its standard input closes (the test process went away).
//
// The sign-in pages are the package's own development interactions (a login form that takes any
// login and password, then a consent form). As many real providers do, it keeps profile claims out
// of the ID token of a code flow and answers them from the userinfo endpoint.
import { createServer } from "node:http";

import Provider from "oidc-provider";

const config = JSON.parse(process.argv[2] ?? "{}");
const accounts = config.accounts ?? {};

function account(id) {
  const claims = accounts[id] ?? {};
  return {
    accountId: id,
    async claims() {
      return { sub: id, ...claims };
    },
  };
}

const server = createServer();
await new Promise((resolve) => server.listen(config.port ?? 0, "127.0.0.1", resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [config.client],
  findAccount: async (ctx, id) => account(id),
  claims: {
    openid: ["sub"],
    profile: ["name", "given_name", "family_name", "preferred_username"],
    email: ["email", "email_verified"],
  },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  // Keep test runs quiet and deterministic: no refresh tokens, short-lived everything.
  ttl: { AccessToken: 300, AuthorizationCode: 60, IdToken: 300, Interaction: 600, Session: 600, Grant: 600 },
});
provider.on("server_error", (ctx, error) => console.error("oidc-provider server_error", error));

server.on("request", provider.callback());
process.stdout.write(JSON.stringify({ issuer }) + "\n");

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on("SIGTERM", stop);
process.stdin.on("end", stop);
process.stdin.resume();
