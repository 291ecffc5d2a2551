// npm oidc-provider as a real authorization server for the interop rig, on 127.0.0.1:
// open dynamic client registration, PKCE S256 required, resource indicators (RFC 8707) issuing
// RFC 9068 JWT access tokens (typ at+jwt, aud = the requested resource) signed RS256 by default
// or ES256 / EdDSA on request, development login and consent forms (completed headlessly by
// `completeForms`), no refresh tokens (the TS SDK's step-up needs a full re-authorization).
// Keys rotate on demand (`rotate()`): a new key signs, the old one stays published. The grant
// storage survives `stop()`/`start()` so registered clients stay valid.

import http from "node:http";
import { createPrivateKey, generateKeyPairSync, randomBytes } from "node:crypto";
import Provider, { errors } from "oidc-provider";
import { createLocalJWKSet, jwtVerify } from "jose";

const SCOPES = ["openid", "mcp:tools", "mcp:admin"];

// Keys are generated as PEM and imported again before the JWK export. Node 20 can deadlock when
// a key object made by a key-generation job is exported while the garbage collector destroys
// that job (both lock the key's mutex: seen in CI, the rig hung in ExportJWK); an imported key
// shares nothing with the job.
export function generatedJwk(type, options) {
  const pem = { privateKeyEncoding: { type: "pkcs8", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } };
  const { privateKey } = generateKeyPairSync(type, { ...options, ...pem });
  return createPrivateKey(privateKey).export({ format: "jwk" });
}

function newKeys() {
  const id = randomBytes(6).toString("hex");
  const jwk = (key, extra) => ({ ...key, use: "sig", ...extra });
  return [
    jwk(generatedJwk("rsa", { modulusLength: 2048 }), { kid: `rsa-${id}` }),
    jwk(generatedJwk("ec", { namedCurve: "P-256" }), { kid: `ec-${id}`, alg: "ES256" }),
    jwk(generatedJwk("ed25519", {}), { kid: `ed-${id}`, alg: "EdDSA" }),
  ];
}

// A memory adapter whose storage outlives provider instances.
const storage = new Map();
class MemoryAdapter {
  constructor(name) { this.name = name; }
  key(id) { return `${this.name}:${id}`; }
  async upsert(id, payload) { storage.set(this.key(id), payload); if (payload.uid) storage.set(`uid:${payload.uid}`, this.key(id)); }
  async find(id) { return storage.get(this.key(id)); }
  async findByUid(uid) { const k = storage.get(`uid:${uid}`); return k ? storage.get(k) : undefined; }
  async findByUserCode() { return undefined; }
  async consume(id) { const p = storage.get(this.key(id)); if (p) p.consumed = Math.floor(Date.now() / 1000); }
  async destroy(id) { storage.delete(this.key(id)); }
  async revokeByGrantId(grantId) { for (const [k, v] of storage) if (v && v.grantId === grantId) storage.delete(k); }
}

// The resource servers' client at the introspection endpoint (client_secret_basic).
export const RS_CLIENT = { id: "mcp-authz-rs", secret: "rs-secret-0f9a" };

// The proxy's client at the token endpoint for RFC 8693 token exchange (client_secret_basic).
export const EXCHANGE_CLIENT = { id: "mcp-authz-exchange", secret: "exchange-secret-77c1" };
export const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";

// Entra ID's shape (`entra`): the pre-registered public app MCP clients would need, the App ID
// URI its scopes live under, and the short scope names its tokens carry in `scp`.
export const ENTRA = { clientId: "entra-mcp-app", apiUri: "api://mcp-app", scopes: ["mcp.tools", "mcp.admin"] };
// Auth0's shape (`auth0`): the app MCP clients would need, and the API identifier that must be
// asked for as `audience` to get a JWT access token (without it: an opaque one).
export const AUTH0 = { clientId: "auth0-mcp-app", audience: "https://mcp-api.example.com" };

export class OidcAs {
  // `opaque`: access tokens are opaque (checked by introspection), not JWTs. `claims`: extra
  // claims of the access tokens issued from now on (roles and groups as providers put them).
  // `entra`: behave as Entra ID v2 does for MCP clients, with `entra.redirectUri` the one
  // redirect URI registered for ENTRA.clientId: no registration endpoint, no
  // `code_challenge_methods_supported` in the metadata (PKCE still required), an authorization
  // request carrying `resource` refused with AADSTS9010010, scopes as full URIs under
  // ENTRA.apiUri, and access tokens for that App ID URI carrying the short names in `scp` and no
  // `scope`.
  // `auth0`: behave as Auth0 does for MCP clients, with `auth0.redirectUri` the one redirect URI
  // registered for AUTH0.clientId: `resource` ignored, a JWT access token only for an `audience`
  // asked for at the authorization endpoint (AUTH0.audience), an opaque one otherwise.
  constructor({ port, alg = "RS256", log = () => {}, opaque = false, entra = null, auth0 = null }) {
    this.auth0 = auth0;
    this.claims = {};
    this.port = port;
    this.alg = alg;
    this.opaque = opaque;
    this.entra = entra;
    this.issuer = `http://127.0.0.1:${port}`;
    this.keys = newKeys();
    this.log = log;
  }

  provider() {
    const alg = this.alg;
    const accessTokenFormat = this.opaque ? "opaque" : "jwt";
    const entra = this.entra;
    const auth0 = this.auth0;
    const fullScopes = ENTRA.scopes.map((s) => `${ENTRA.apiUri}/${s}`);
    const provider = new Provider(this.issuer, {
      adapter: MemoryAdapter,
      clients: [{
        client_id: RS_CLIENT.id, client_secret: RS_CLIENT.secret, token_endpoint_auth_method: "client_secret_basic",
        grant_types: [], response_types: [], redirect_uris: [],
      }, ...(entra ? [{
        client_id: ENTRA.clientId, token_endpoint_auth_method: "none",
        grant_types: ["authorization_code"], response_types: ["code"], redirect_uris: [entra.redirectUri],
      }] : []), ...(auth0 ? [{
        client_id: AUTH0.clientId, token_endpoint_auth_method: "none",
        grant_types: ["authorization_code"], response_types: ["code"], redirect_uris: [auth0.redirectUri],
      }] : []), {
        client_id: EXCHANGE_CLIENT.id, client_secret: EXCHANGE_CLIENT.secret, token_endpoint_auth_method: "client_secret_basic",
        grant_types: [TOKEN_EXCHANGE], response_types: [], redirect_uris: [],
      }],
      jwks: { keys: this.keys },
      scopes: entra ? [...SCOPES, ...fullScopes, "offline_access"] : SCOPES,
      features: {
        devInteractions: { enabled: true },
        registration: { enabled: !entra },
        introspection: { enabled: true },
        dPoP: { enabled: true },
        revocation: { enabled: true },
        resourceIndicators: {
          enabled: true,
          // Entra: every token is for the App ID URI. Auth0: for the `audience` asked for, if any.
          defaultResource: (ctx) => (entra ? ENTRA.apiUri
            : auth0 ? (ctx.oidc.params?.audience === AUTH0.audience ? AUTH0.audience : undefined)
              : undefined),
          useGrantedResource: () => true,
          getResourceServerInfo: (_ctx, resourceIndicator) => ({
            scope: entra ? fullScopes.join(" ") : "mcp:tools mcp:admin",
            audience: resourceIndicator,
            accessTokenTTL: 900,
            accessTokenFormat,
            ...(accessTokenFormat === "jwt" ? { jwt: { sign: { alg } } } : {}),
          }),
        },
      },
      pkce: { required: () => true },
      ...(auth0 ? { extraParams: ["audience"] } : {}),
      clientDefaults: { token_endpoint_auth_method: "none", grant_types: ["authorization_code"], response_types: ["code"] },
      // RFC 7591 §2 lets the AS ignore a registered scope; the SDKs register with the first
      // 401's scope, which would forbid the step-up otherwise.
      extraClientMetadata: {
        properties: ["scope"],
        validator(_ctx, key, _value, metadata) { if (key === "scope") delete metadata.scope; },
      },
      issueRefreshToken: () => false,
      // Entra's v2 access tokens: the short scope names in `scp`, no `scope`.
      formats: {
        customizers: {
          jwt: entra ? (_ctx, _token, jwt) => {
            const granted = String(jwt.payload.scope ?? "").split(" ").filter(Boolean);
            jwt.payload.scp = granted.map((s) => s.replace(`${ENTRA.apiUri}/`, "")).join(" ");
            delete jwt.payload.scope;
            return jwt;
          } : undefined,
        },
      },
      // A token issued by exchange names the exchanging client as the actor (RFC 8693 §4.1).
      extraTokenClaims: (ctx) => ({
        ...this.claims,
        ...(ctx?.oidc?.params?.grant_type === TOKEN_EXCHANGE
          ? { act: { sub: ctx.oidc.client.clientId }, azp: ctx.oidc.client.clientId } : {}),
      }),
      enabledJWA: {
        authorizationSigningAlgValues: ["RS256", "PS256", "ES256", "EdDSA"],
        idTokenSigningAlgValues: ["RS256", "PS256", "ES256", "EdDSA"],
      },
    });
    provider.on("server_error", (_ctx, err) => this.log(`oidc-provider error: ${err}`));
    if (auth0) {
      // Auth0 ignores RFC 8707 `resource` at the authorization endpoint.
      provider.use(async (ctx, next) => {
        if (ctx.path === "/auth" && ctx.query.resource !== undefined) {
          const q = new URLSearchParams(ctx.querystring);
          q.delete("resource");
          ctx.querystring = q.toString();
        }
        await next();
      });
    }
    if (entra) {
      provider.use(async (ctx, next) => {
        // AADSTS9010010: Entra v2 refuses the RFC 8707 resource parameter MCP clients send.
        if (ctx.path === "/auth" && ctx.query.resource !== undefined) {
          ctx.status = 400;
          ctx.type = "text/plain";
          ctx.body = "AADSTS9010010: The resource parameter provided in the request doesn't match with the requested scopes.";
          return;
        }
        await next();
        // Entra's metadata names no PKCE method and no registration endpoint.
        if (ctx.path === "/.well-known/openid-configuration" && ctx.body && typeof ctx.body === "object") {
          delete ctx.body.code_challenge_methods_supported;
          delete ctx.body.registration_endpoint;
        }
      });
    }
    this.registerTokenExchange(provider);
    return provider;
  }

  // RFC 8693 token exchange as a grant of the library's token endpoint (client authentication,
  // parameters and errors are oidc-provider's): the subject token must be an access token this
  // server signed (verified with its own keys, unexpired); the issued one is a JWT access token
  // for the `audience` (or `resource`) asked, with the user as `sub` and the exchanging client as
  // `act` (RFC 8693 §4.1) — the library's own AccessToken, formatted as for any resource server.
  // `exchanges` counts the grants served; `refuseExchange` makes it answer invalid_grant.
  registerTokenExchange(provider) {
    this.exchanges ??= 0;
    const publicKeys = createLocalJWKSet({
      keys: this.keys.map(({ d, p, q, dp, dq, qi, ...pub }) => pub),
    });
    const alg = this.alg;
    provider.registerGrantType(TOKEN_EXCHANGE, async (ctx) => {
      this.exchanges += 1;
      const { params, client } = ctx.oidc;
      if (this.refuseExchange) throw new errors.InvalidGrant("exchange refused by policy");
      if (params.subject_token_type !== ACCESS_TOKEN_TYPE) {
        throw new errors.InvalidRequest("subject_token_type must be an access token");
      }
      let subject;
      try {
        ({ payload: subject } = await jwtVerify(params.subject_token, publicKeys, { issuer: this.issuer }));
      } catch {
        throw new errors.InvalidGrant("the subject token is not valid");
      }
      if (!subject.sub) throw new errors.InvalidGrant("the subject token names no user");
      const audience = params.audience ?? params.resource;
      if (!audience) throw new errors.InvalidTarget("audience or resource required");
      const resourceServer = new provider.ResourceServer(audience, {
        audience, scope: params.scope ?? "", accessTokenTTL: 300, accessTokenFormat: "jwt", jwt: { sign: { alg } },
      });
      const token = new provider.AccessToken({
        accountId: subject.sub, client, grantId: `exchange-${randomBytes(6).toString("hex")}`,
        scope: params.scope || undefined, resourceServer,
      });
      const value = await token.save();
      ctx.body = {
        access_token: value, issued_token_type: ACCESS_TOKEN_TYPE, token_type: "Bearer",
        expires_in: token.expiration, ...(token.scope ? { scope: token.scope } : {}),
      };
    }, ["subject_token", "subject_token_type", "audience", "resource", "scope", "requested_token_type"]);
  }

  async start() {
    const callback = this.provider().callback();
    this.server = http.createServer(callback);
    await new Promise((resolve) => this.server.listen(this.port, "127.0.0.1", resolve));
  }

  async stop() {
    if (!this.server) return;
    this.server.closeAllConnections?.();
    await new Promise((resolve) => this.server.close(resolve));
    this.server = undefined;
  }

  // New keys sign from now on; the previous ones stay published.
  async rotate() {
    const old = this.keys;
    this.keys = [...newKeys(), ...old];
    await this.stop();
    await this.start();
    return this.keys[0].kid;
  }
}

// Completes the development login and consent forms over plain HTTP, cookies included, and
// returns the redirect back to the client (carrying the code).
export async function completeForms(authorizationUrl, redirectUri) {
  const jar = new Map();
  const go = async (url, init = {}) => {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
    const res = await fetch(url, { ...init, redirect: "manual", headers: { ...(init.headers ?? {}), ...(cookie ? { cookie } : {}) } });
    for (const c of res.headers.getSetCookie?.() ?? []) {
      const [pair] = c.split(";");
      const i = pair.indexOf("=");
      jar.set(pair.slice(0, i), pair.slice(i + 1));
    }
    return res;
  };
  let url = String(authorizationUrl);
  let res = await go(url);
  for (let step = 0; step < 12; step++) {
    const loc = res.headers.get("location");
    if (res.status >= 300 && res.status < 400 && loc) {
      const next = new URL(loc, url).href;
      if (next.startsWith(redirectUri)) return next;
      url = next;
      res = await go(url);
      continue;
    }
    const html = await res.text();
    const action = html.match(/<form[^>]*action="([^"]+)"/)?.[1];
    const prompt = html.match(/name="prompt" value="([^"]+)"/)?.[1];
    if (!action) throw new Error(`no form at ${url} (${res.status}): ${html.slice(0, 200)}`);
    const body = prompt === "login" ? "prompt=login&login=alice&password=x" : `prompt=${prompt ?? "consent"}`;
    url = new URL(action, url).href;
    res = await go(url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body });
  }
  throw new Error("too many steps in the authorization forms");
}
