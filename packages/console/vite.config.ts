import { defineConfig } from "vite";

// Preact's automatic JSX runtime through Vite's own transform (no framework plugin needed).
export default defineConfig({
  base: "/console/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // Per-page chunks load on demand (the teacher pages' tus client is not in the operator pages' load).
    modulePreload: { polyfill: false },
  },
});
