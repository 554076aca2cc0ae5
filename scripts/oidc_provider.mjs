// A real OpenID Connect provider on 127.0.0.1: the npm `oidc-provider` package (scripts/ensure_oidc_provider.sh
// installs it) in its own process. `make demo` runs it as the demo's identity provider (scripts/demo.sh), and the
// single sign-on tests start one per session (tests/oidc_fixtures.py). Nothing here is served by Matchdesk, and it
// is no provider for production: its client secret and cookie key are fixed and public.
//
// Environment: OIDC_PORT (8767 by default, the demo's), OIDC_USERS_FILE (JSON {"<login>": {"email", "groups": [...],
// "domains": [...], "password"}}, re-read at every sign-in, so a test changes a user's groups by rewriting it),
// OIDC_REDIRECT_URIS and OIDC_POST_LOGOUT_URIS (comma-separated). The static client is "matchdesk" /
// "matchdesk-test-secret". Its development sign-in form takes the user's "password" when the users file gives one
// (the demo's), and any password for a login without one (the tests'). /wrong-jwks serves a different RSA key under
// the provider's key id: a relying party pointed there holds the provider's genuine tokens for signed with the wrong
// key.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT || 8767);
const usersFile = process.env.OIDC_USERS_FILE;
if (!usersFile) throw new Error('OIDC_USERS_FILE is required: the JSON file of the provider\'s users');
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
const digest = (text) => crypto.createHash('sha256').update(String(text)).digest();

// The development sign-in form posts `login` and `password` to /interaction/<uid>. A user with a password in the users
// file must give it: a wrong one shows the form again, and no one is signed in. The body read here is handed on to the
// provider, whose parser takes an already-read body (req.body) in place of the stream.
async function passwordRefused(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  req.body = Buffer.concat(chunks);
  const form = new URLSearchParams(req.body.toString());
  if (form.get('prompt') !== 'login') return false;
  const user = users()[form.get('login') || ''];
  if (!user || user.password === undefined) return false;
  return !crypto.timingSafeEqual(digest(user.password), digest(form.get('password') || ''));
}

const server = http.createServer(async (req, res) => {
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
  if (req.method === 'POST' && /^\/interaction\/[^/?]+$/.test(req.url)) {
    try {
      if (await passwordRefused(req)) {
        console.log('sign-in refused: wrong password');
        res.writeHead(303, { location: req.url });
        res.end();
        return;
      }
    } catch (err) {
      console.error('sign-in form', err);
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end('bad sign-in form');
      return;
    }
  }
  callback(req, res);
});
server.listen(port, '127.0.0.1', () => console.log(`oidc provider listening on ${issuer}`));
// Stop at once: a browser's keep-alive connection would hold server.close() open (`make stop` waits for the process).
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
