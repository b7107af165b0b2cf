import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import react from "@vitejs/plugin-react";
import type { Plugin } from "vite";
import { defineConfig } from "vitest/config";

/** A .gz twin of every script and stylesheet over 1 KiB: the API sends it to clients that
 * take gzip (no compression work on the Pi per request). */
function precompress(): Plugin {
  return {
    name: "pi5-precompress",
    apply: "build",
    enforce: "post",
    // After the files are written: the code as served (vite rewrites chunks late).
    writeBundle(options, bundle) {
      const dir = options.dir ?? "";
      for (const name of Object.keys(bundle)) {
        if (!/\.(js|css|svg)$/.test(name)) continue;
        const bytes = readFileSync(join(dir, name));
        if (bytes.length < 1024) continue;
        writeFileSync(join(dir, `${name}.gz`), gzipSync(bytes, { level: 9 }));
      }
    },
  };
}

const api = process.env.PI5_API ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react(), precompress()],
  build: {
    // Inside the Python package, so a wheel ships the dashboard (git-ignored).
    outDir: "../python/pi5trading/api/_dashboard",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1000,
  },
  server: {
    proxy: {
      "/api": api,
      "/health": api,
      "/ready": api,
      "/metrics": api,
      "/schema": api,
      "/ws": { target: api.replace(/^http/, "ws"), ws: true },
    },
  },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["./src/test-setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
