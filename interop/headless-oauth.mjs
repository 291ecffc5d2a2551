// A headless OAuthClientProvider for the official MCP TypeScript SDK: it does what a browser and
// a user would do, over plain HTTP on 127.0.0.1. `redirectToAuthorization` GETs the
// authorization URL; an authorization server that consents automatically (the mcp-authz demo)
// answers with a redirect carrying the code. Servers with login and consent forms are driven by
// the `completeForms` hook (the oidc-provider rig supplies one).

export class HeadlessProvider {
  constructor({ redirectUrl = "http://127.0.0.1:1/callback", completeForms, log = () => {} } = {}) {
    this._redirectUrl = redirectUrl;
    this._completeForms = completeForms;
    this._log = log;
    this.pendingCode = undefined;
    this.authorizations = 0;
  }
  get redirectUrl() { return this._redirectUrl; }
  get clientMetadata() {
    return {
      client_name: "mcp-authz interop (headless)",
      redirect_uris: [this._redirectUrl],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }
  clientInformation() { return this._client; }
  saveClientInformation(info) { this._client = info; this._log(`registered client_id=${info.client_id}`); }
  tokens() { return this._tokens; }
  saveTokens(tokens) { this._tokens = tokens; this._log(`token received, scope="${tokens.scope ?? ""}"`); }
  saveCodeVerifier(v) { this._verifier = v; }
  codeVerifier() { return this._verifier; }
  async redirectToAuthorization(url) {
    this.authorizations += 1;
    const u = new URL(url);
    this._log(`authorize: scope="${u.searchParams.get("scope") ?? ""}" resource=${u.searchParams.get("resource")} code_challenge_method=${u.searchParams.get("code_challenge_method")}`);
    let location;
    if (this._completeForms) {
      location = await this._completeForms(url, this._redirectUrl);
    } else {
      const res = await fetch(url, { redirect: "manual" });
      location = res.headers.get("location");
      if (res.status !== 302 || !location) throw new Error(`authorization endpoint answered ${res.status}`);
    }
    const back = new URL(location);
    const error = back.searchParams.get("error");
    if (error) throw new Error(`authorization failed: ${error}: ${back.searchParams.get("error_description")}`);
    this.pendingCode = back.searchParams.get("code");
    if (!this.pendingCode) throw new Error(`no code in the redirect: ${location}`);
  }
}
