import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Built into the Python package, which serves it at / (same origin as /api/v1).
export default defineConfig({
  plugins: [react()],
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
