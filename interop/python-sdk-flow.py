"""The official MCP Python SDK client's whole OAuth flow against a protected MCP URL, headlessly.

    python python-sdk-flow.py MCP_URL

Discovery (RFC 9728 and RFC 8414), registration, PKCE, authorization (oidc-provider's login and
consent forms completed by complete-forms.mjs, as a user's browser would), token, then
`initialize`, `tools/list` and a `whoami` call. Prints one JSON line ({"tools": [...],
"whoami": "..."}) and exits 0, or prints the error and exits 1.
"""

import asyncio
import json
import os
import subprocess
import sys
from urllib.parse import parse_qs, urlparse

import httpx2
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

HERE = os.path.dirname(os.path.abspath(__file__))
REDIRECT = "http://127.0.0.1:1/callback"


class MemoryStorage:
    def __init__(self):
        self.tokens = None
        self.info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.info

    async def set_client_info(self, info):
        self.info = info


async def main(url):
    back = {}

    async def redirect_handler(authorization_url):
        out = subprocess.run(
            ["node", os.path.join(HERE, "complete-forms.mjs"), authorization_url, REDIRECT],
            capture_output=True, text=True, check=True, cwd=HERE,
        ).stdout.strip().splitlines()[-1]
        back.update({k: v[0] for k, v in parse_qs(urlparse(out).query).items()})

    async def callback_handler():
        if "code" not in back:
            raise RuntimeError(f"no code in the redirect: {back}")
        return AuthorizationCodeResult(code=back["code"], state=back.get("state"), iss=back.get("iss"))

    auth = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="mcp-authz python interop",
            redirect_uris=[REDIRECT],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=MemoryStorage(),
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
        async with streamable_http_client(url, http_client=http) as (read, write, *_):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = await session.list_tools()
                result = await session.call_tool("whoami", {})
                text = result.content[0].text if result.content else ""
                print(json.dumps({"tools": [t.name for t in tools.tools], "whoami": text}))


async def bounded(url):
    # A flow that cannot complete must fail, not wait: 60 s is far beyond a real one here.
    await asyncio.wait_for(main(url), timeout=60)


try:
    asyncio.run(bounded(sys.argv[1]))
except BaseException as e:  # noqa: BLE001 - report whatever stopped the flow
    print(f"python SDK flow failed: {type(e).__name__}: {e}")
    sys.exit(1)
