import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', 'listener/index': 'src/listener/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  target: 'node20',
  sourcemap: true,
});
