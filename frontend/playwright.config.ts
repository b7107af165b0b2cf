// End-to-end tests in Debian's Chromium (never a downloaded browser) against a real
// `pi5trading serve` started by e2e/serve.mjs on a free loopback port.
import { execFileSync } from "node:child_process";
import { defineConfig, devices } from "@playwright/test";

function freePort(): string {
  // Synchronous: the config must know the port before anything starts.
  return execFileSync(process.execPath, [
    "-e",
    "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{process.stdout.write(String(s.address().port));s.close()})",
  ]).toString();
}

// Set once in the main process; the workers inherit it.
process.env.DASH_E2E_PORT ??= freePort();
const baseURL = `http://127.0.0.1:${process.env.DASH_E2E_PORT}`;
const chromium = process.env.CHROMIUM ?? "/usr/bin/chromium";

export default defineConfig({
  testDir: "e2e",
  outputDir: "../test-artifacts/e2e/results",
  timeout: 60_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL,
    screenshot: "on",
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: chromium,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  projects: [{ name: "chromium", use: { ...devices["Desktop Chrome"], channel: undefined } }],
  webServer: {
    command: "node e2e/serve.mjs",
    // Ready, not just alive: the feed is live before the first test.
    url: `${baseURL}/ready`,
    timeout: 90_000,
    reuseExistingServer: false,
    stdout: "ignore",
    stderr: "pipe",
    gracefulShutdown: { signal: "SIGTERM", timeout: 20_000 },
  },
});
