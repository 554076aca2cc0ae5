// A real OpenID Connect provider for the single sign-on tests (tests/sso/): the npm `oidc-provider` package, in its
// own process, on 127.0.0.1. Nothing here is served by Matchdesk.
//
// Environment: OIDC_PORT, OIDC_USERS_FILE (JSON {"<login>": {"email", "groups": [...], "domains": [...]}}, re-read at
// every sign-in, so a test changes a user's groups by rewriting it), OIDC_REDIRECT_URIS and OIDC_POST_LOGOUT_URIS
// (comma-separated). The static client is "matchdesk" / "matchdesk-test-secret". Its development sign-in form takes
// any password for a login listed in the users file. /wrong-jwks serves a different RSA key under the provider's key
// id: a relying party pointed there holds the provider's genuine tokens for signed with the wrong key.
import fs from 'node:fs';
import http from 'node:http';

import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const usersFile = process.env.OIDC_USERS_FILE;
const list = (name) => (process.env[name] || '').split(',').filter(Boolean);
const issuer = `http://127.0.0.1:${port}`;
const KID = 'matchdesk-test';

const signing = await generateKeyPair('RS256', { extractable: true });
const other = await generateKeyPair('RS256', { extractable: true });
const signingJwk = { ...(await exportJWK(signing.privateKey)), kid: KID, use: 'sig', alg: 'RS256' };
const wrongJwk = { ...(await exportJWK(other.publicKey)), kid: KID, use: 'sig', alg: 'RS256' };

const users = () => JSON.parse(fs.readFileSync(usersFile, 'utf8'));
const SCOPES = 'openid email profile';

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'matchdesk',
      client_secret: 'matchdesk-test-secret',
      redirect_uris: list('OIDC_REDIRECT_URIS'),
      post_logout_redirect_uris: list('OIDC_POST_LOGOUT_URIS'),
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_post',
    },
  ],
  jwks: { keys: [signingJwk] },
  cookies: { keys: ['matchdesk-test-cookie-key'] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name', 'groups', 'matchdesk_domains'],
  },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  pkce: { required: () => true },
  async findAccount(ctx, sub) {
    const user = users()[sub];
    if (!user) return undefined;
    return {
      accountId: sub,
      async claims() {
        const claims = {
          sub,
          preferred_username: sub,
          name: user.name || sub,
          email: user.email || `${sub}@example.test`,
          email_verified: true,
          groups: user.groups || [],
        };
        if (user.domains !== undefined) claims.matchdesk_domains = user.domains;
        return claims;
      },
    };
  },
  // A first-party client: no consent screen (the grant is made on first use).
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(SCOPES);
    await grant.save();
    return grant;
  },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

const callback = provider.callback();
const server = http.createServer((req, res) => {
  if (req.url === '/wrong-jwks') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [wrongJwk] }));
    return;
  }
  if (req.url === '/ready') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
    return;
  }
  callback(req, res);
});
server.listen(port, '127.0.0.1', () => console.log(`oidc provider listening on ${issuer}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
