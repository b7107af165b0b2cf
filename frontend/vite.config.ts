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
    generateBundle(_options, bundle) {
      for (const [name, item] of Object.entries(bundle)) {
        if (!/\.(js|css|svg)$/.test(name)) continue;
        const source = item.type === "chunk" ? item.code : item.source;
        const bytes = typeof source === "string" ? Buffer.from(source) : Buffer.from(source);
        if (bytes.length < 1024) continue;
        this.emitFile({
          type: "asset",
          fileName: `${name}.gz`,
          source: gzipSync(bytes, { level: 9 }),
        });
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
