// Bundles the dashboard (Preact + uPlot) into dist/web: one script, one stylesheet and index.html,
// served by the server at /ui. Runs as part of `npm run build` (and so of `npm install`).
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const here = new URL('.', import.meta.url);
const out = new URL('../dist/web/', here);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: new URL('src/main.tsx', here).pathname },
  outdir: out.pathname,
  bundle: true,
  format: 'esm',
  target: 'es2020',
  minify: true,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync(new URL('index.html', here), new URL('index.html', out));
