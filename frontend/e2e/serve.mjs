// The real server for the end-to-end tests (Playwright's webServer): a fresh data folder
// (embedded default: SQLite, simulated feed ticking fast, paper trading), an admin and a
// trader created with the CLI, then `pi5trading serve`. SIGTERM/SIGINT stop the server
// gracefully and remove the folder; nothing is left running.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { USERS } from "./users.mjs";

const repo = resolve(fileURLToPath(import.meta.url), "..", "..", "..");
const venvBin = join(repo, ".venv", "bin", "pi5trading");
const bin = process.env.PI5TRADING_BIN ?? (existsSync(venvBin) ? venvBin : "pi5trading");
const port = process.env.DASH_E2E_PORT;
if (!port) throw new Error("DASH_E2E_PORT is not set (playwright.config.ts sets it)");
const dataDir = mkdtempSync(join(tmpdir(), "pi5-e2e-"));
const env = {
  ...process.env,
  PYTHONPATH: [join(repo, "python"), process.env.PYTHONPATH].filter(Boolean).join(delimiter),
  PI5_DATA_DIR: dataDir,
  PI5_DATABASE__URL: "",
  PI5_REDIS__URL: "",
  PI5_API__HOST: "127.0.0.1",
  PI5_API__PORT: port,
  // The tests sign in often from one address.
  PI5_API__RATE_LIMIT_PER_MINUTE: "100000",
  PI5_API__LOGIN_RATE_LIMIT_PER_MINUTE: "1000",
  // Simulated market time runs 120x: a quote every ~0.1 s, a 1-minute bar every 0.5 s.
  PI5_FEED__KIND: "simulated",
  PI5_FEED__SPEED: "120",
  // Broker and vendor keys can be entered (a fixed test key; never a real one).
  PI5_SECURITY__CREDENTIALS_KEY: "ZTJlLWNyZWRlbnRpYWxzLWtleS0zMi1ieXRlcy1vayE=",
  PI5_LOGGING__LEVEL: "WARNING",
  PI5_LOGGING__FORMAT: "text",
};

for (const u of Object.values(USERS)) {
  const res = spawnSync(bin, ["user", "create", `--${u.role}`, u.username, "--password-stdin"], {
    env,
    input: `${u.password}\n`,
    encoding: "utf8",
  });
  if (res.status !== 0) {
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`user create ${u.username} failed: ${res.stderr || res.error}`);
  }
}

const server = spawn(bin, ["serve"], { env, stdio: ["ignore", "inherit", "inherit"] });
let stopping = false;
function stop(signal) {
  if (stopping) return;
  stopping = true;
  server.kill(signal === "SIGINT" ? "SIGINT" : "SIGTERM");
  setTimeout(() => server.kill("SIGKILL"), 15_000).unref();
}
process.on("SIGTERM", () => stop("SIGTERM"));
process.on("SIGINT", () => stop("SIGINT"));
process.on("exit", () => {
  if (server.exitCode === null) server.kill("SIGKILL");
});
server.on("exit", (code) => {
  rmSync(dataDir, { recursive: true, force: true });
  process.exit(stopping ? 0 : (code ?? 1));
});
