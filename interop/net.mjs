// Helpers the interop scripts share: free loopback ports and waiting for a server to answer.

import net from "node:net";

// A free TCP port on 127.0.0.1.
export async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Waits until `url` answers 200 (or `ready(response)` holds), failing early when `child` (a
// process that should serve it) exits; its output is in `child.stderrText` when the caller keeps
// it.
export async function waitFor(url, child, seconds = 120, ready = (r) => r.status === 200) {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${(child.stderrText ?? "").slice(-400)}`);
    try {
      if (ready(await fetch(url))) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`not ready: ${url}`);
}
