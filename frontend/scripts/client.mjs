// The typed API client's inputs: frontend/openapi.json (dumped from the Python app, no
// server) and src/api/schema.d.ts (openapi-typescript). `generate` rewrites both; `check`
// regenerates them in a temporary folder and fails when they differ from the committed ones.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const frontend = resolve(here, "..");
const repo = resolve(frontend, "..");
const venvPython = join(repo, ".venv", "bin", "python");
const python = process.env.PYTHON ?? (existsSync(venvPython) ? venvPython : "python3");
const env = {
  ...process.env,
  PYTHONPATH: [join(repo, "python"), process.env.PYTHONPATH].filter(Boolean).join(delimiter),
};

function generate(outDir) {
  const schemaPath = join(outDir, "openapi.json");
  const typesPath = join(outDir, "schema.d.ts");
  execFileSync(python, ["-m", "pi5trading.api.schema", schemaPath], { env, stdio: "inherit" });
  execFileSync(
    process.execPath,
    [
      join(frontend, "node_modules", "openapi-typescript", "bin", "cli.js"),
      schemaPath,
      "-o",
      typesPath,
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  // biome formats the committed file; format the fresh one the same way before comparing.
  execFileSync(
    process.execPath,
    [
      join(frontend, "node_modules", "@biomejs", "biome", "bin", "biome"),
      "format",
      "--write",
      typesPath,
    ],
    { cwd: frontend, stdio: ["ignore", "ignore", "inherit"] },
  );
  return { schemaPath, typesPath };
}

const mode = process.argv[2] ?? "check";
const committed = {
  schemaPath: join(frontend, "openapi.json"),
  typesPath: join(frontend, "src", "api", "schema.d.ts"),
};
if (mode === "generate") {
  const tmp = mkdtempSync(join(tmpdir(), "pi5-client-"));
  try {
    const fresh = generate(tmp);
    writeFileSync(committed.schemaPath, readFileSync(fresh.schemaPath));
    writeFileSync(committed.typesPath, readFileSync(fresh.typesPath));
    console.log("wrote frontend/openapi.json and frontend/src/api/schema.d.ts");
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
} else if (mode === "check") {
  const tmp = mkdtempSync(join(tmpdir(), "pi5-client-"));
  try {
    const fresh = generate(tmp);
    const drift = [];
    for (const key of ["schemaPath", "typesPath"]) {
      const a = existsSync(committed[key]) ? readFileSync(committed[key], "utf8") : "";
      if (a !== readFileSync(fresh[key], "utf8")) drift.push(committed[key]);
    }
    if (drift.length) {
      console.error(
        `the API client is out of date with the server's schema: ${drift.join(", ")}\n` +
          "regenerate it with `npm run client:gen` (in frontend/) and commit the result",
      );
      process.exit(1);
    }
    console.log("client:check: openapi.json and schema.d.ts match the server's schema");
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
} else {
  console.error("usage: node scripts/client.mjs generate|check");
  process.exit(2);
}
