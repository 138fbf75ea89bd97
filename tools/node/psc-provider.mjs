// A Pro Santé Connect look-alike for tests and local trials, built on `oidc-provider`
// (a certified OpenID Connect implementation): authorization code + PKCE (required),
// ID tokens carrying PSC's claims (`SubjectNameID` = "8" + RPPS, `acr` = "eidas1"), and
// PSC's non-standard discovery path `/.well-known/wallet-openid-configuration` served
// beside the standard one.
//
// Configuration: one JSON file named by the first argument (or PSC_PROVIDER_CONFIG):
//   { "port": 9000, "issuer": "http://127.0.0.1:9000",
//     "jwks": {"keys": [<private JWKs, the first signs>]},
//     "clients": [{"client_id": "...", "client_secret": "...", "redirect_uris": ["..."]}],
//     "accounts": {"<login>": {"SubjectNameID": "810001234567", "given_name": "...",
//                              "family_name": "..."}},
//     "id_token_ttl": 3600,
//     "wallet_discovery": true }   (false: only the standard discovery path answers)
// The sign-in page (a login field, like the e-CPS prompt) accepts the logins of
// `accounts`. The process prints "ready <issuer>" on stdout once it listens.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import Provider from "oidc-provider";

const config = JSON.parse(readFileSync(process.argv[2] || process.env.PSC_PROVIDER_CONFIG, "utf8"));
const accounts = config.accounts || {};
const PSC_SCOPE = "scope_all";

const provider = new Provider(config.issuer, {
  clients: config.clients.map((c) => ({
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
    ...c,
  })),
  jwks: config.jwks,
  scopes: ["openid", PSC_SCOPE],
  claims: { openid: ["sub"], [PSC_SCOPE]: ["SubjectNameID", "given_name", "family_name"] },
  // PSC puts its claims in the ID token as well as behind the userinfo endpoint
  conformIdTokenClaims: false,
  acrValues: ["eidas1"],
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  ttl: { IdToken: config.id_token_ttl || 3600, AccessToken: 3600, Session: 3600, Grant: 3600 },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...account }; } };
  },
  cookies: { keys: ["psc-provider-test-cookie-key"] },
});

const page = (uid, error) => `<!doctype html><html lang="fr"><head><meta charset="utf-8">
<title>Pro Santé Connect (test)</title></head><body>
<h1>Pro Santé Connect — environnement de test</h1>
${error ? `<p id="error">${error}</p>` : ""}
<form method="post" action="/interaction/${uid}/login">
<label>Identifiant e-CPS <input name="login" id="login" autofocus></label>
<button type="submit" id="submit">Se connecter</button></form></body></html>`;

async function readForm(req) {
  let body = "";
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

async function interaction(req, res, uid, isPost) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error("interaction mismatch");
  if (!isPost) {
    res.setHeader("Content-Type", "text/html; charset=utf-8");
    res.end(page(uid));
    return;
  }
  const login = (await readForm(req)).get("login") || "";
  if (!accounts[login]) {
    res.statusCode = 401;
    res.setHeader("Content-Type", "text/html; charset=utf-8");
    res.end(page(uid, "Identifiant inconnu"));
    return;
  }
  const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, {
    login: { accountId: login, acr: "eidas1", amr: ["pwd"] },
    consent: { grantId },
  });
}

const callback = provider.callback();
const server = createServer(async (req, res) => {
  try {
    const url = new URL(req.url, config.issuer);
    if (url.pathname === "/.well-known/wallet-openid-configuration" && config.wallet_discovery !== false) {
      req.url = "/.well-known/openid-configuration"; // PSC's path: the same document
    }
    const match = url.pathname.match(/^\/interaction\/([\w-]+)(\/login)?$/);
    if (match) {
      await interaction(req, res, match[1], req.method === "POST" && Boolean(match[2]));
      return;
    }
    callback(req, res);
  } catch (err) {
    res.statusCode = 400;
    res.end(String(err && err.message));
  }
});
server.listen(config.port, "127.0.0.1", () => {
  process.stdout.write(`ready ${config.issuer}\n`);
});
