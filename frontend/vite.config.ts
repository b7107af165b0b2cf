import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

const api = process.env.PI5_API ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
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
