// Bundles the dashboard (Preact + uPlot) and the account portal (Preact, the dashboard's components)
// into dist/web: a script and a stylesheet each, index.html (served at /ui) and portal.html (at
// /portal). Runs as part of `npm run build` (and so of `npm install`).
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const here = new URL('.', import.meta.url);
const out = new URL('../dist/web/', here);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: {
    app: new URL('src/main.tsx', here).pathname,
    portal: new URL('src/portal/main.tsx', here).pathname,
  },
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
copyFileSync(new URL('portal.html', here), new URL('portal.html', out));
