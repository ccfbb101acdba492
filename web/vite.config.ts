import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { defineConfig, type Plugin } from "vite";
import react from "@vitejs/plugin-react";

// The API's /docs page (src/attune/webui mount_docs) loads Swagger UI from these files, so it
// works without internet as the rest of the UI does; FastAPI's default took them from a CDN.
const SWAGGER_FILES = ["swagger-ui-bundle.js", "swagger-ui.css"];

function swaggerUi(): Plugin {
  const dist = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
  return {
    name: "attune-swagger-ui",
    apply: "build",
    generateBundle() {
      for (const name of SWAGGER_FILES) {
        this.emitFile({ type: "asset", fileName: `swagger-ui/${name}`, source: readFileSync(join(dist, name)) });
      }
    },
  };
}

// Built into the Python package, which serves it at / (same origin as /api/v1).
export default defineConfig({
  plugins: [react(), swaggerUi()],
  build: {
    outDir: "../src/attune/webui/static",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
  },
  server: {
    // `npm run dev` against a running `attune up`.
    proxy: { "/api": "http://127.0.0.1:8000" },
  },
});
