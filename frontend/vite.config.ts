import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

const backend = "http://127.0.0.1:8000";

export default defineConfig(({ command }) => ({
  // Django serves the built assets under STATIC_URL (/static/) and dist/index.html at every
  // SPA route. The dev server serves the app at / so client-side routes work there too.
  base: command === "build" ? "/static/" : "/",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
  },
  server: {
    proxy: {
      "/api": backend,
      "/admin": backend,
      "/healthz": backend,
      // The admin's and the API docs' own static files.
      "/static": backend,
    },
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    restoreMocks: true,
  },
}));
