import "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "electron-vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";
/**
* Three builds: the main process (plus the utility-process worker that hosts engine jobs),
* the sandboxed preload (CommonJS: Electron's sandbox cannot load ES module preloads),
* and the Svelte renderer rooted at renderer/.
*/
const root = dirname(fileURLToPath("file:///work/wt-app/electron.vite.config.ts"));
var electron_vite_config_default = defineConfig({
	main: { build: {
		outDir: "out/main",
		externalizeDeps: true,
		rolldownOptions: { input: {
			index: resolve(root, "main/index.ts"),
			worker: resolve(root, "main/jobs/worker.ts")
		} }
	} },
	preload: { build: {
		outDir: "out/preload",
		externalizeDeps: false,
		rolldownOptions: {
			input: { index: resolve(root, "main/preload/index.ts") },
			output: {
				format: "cjs",
				entryFileNames: "[name].cjs"
			}
		}
	} },
	renderer: {
		root: resolve(root, "renderer"),
		resolve: { alias: { "@main": resolve(root, "main") } },
		plugins: [svelte()],
		build: {
			outDir: resolve(root, "out/renderer"),
			rolldownOptions: { input: { index: resolve(root, "renderer/index.html") } }
		}
	}
});
export { electron_vite_config_default as default };

//# sourceMappingURL=data:application/json;charset=utf-8;base64,eyJ2ZXJzaW9uIjozLCJmaWxlIjoiZWxlY3Ryb24udml0ZS5jb25maWcuanMiLCJuYW1lcyI6W10sInNvdXJjZXMiOlsiL3dvcmsvd3QtYXBwL2VsZWN0cm9uLnZpdGUuY29uZmlnLnRzIl0sInNvdXJjZXNDb250ZW50IjpbImltcG9ydCB7IHJlc29sdmUsIGRpcm5hbWUgfSBmcm9tICdub2RlOnBhdGgnO1xuaW1wb3J0IHsgZmlsZVVSTFRvUGF0aCB9IGZyb20gJ25vZGU6dXJsJztcbmltcG9ydCB7IGRlZmluZUNvbmZpZyB9IGZyb20gJ2VsZWN0cm9uLXZpdGUnO1xuaW1wb3J0IHsgc3ZlbHRlIH0gZnJvbSAnQHN2ZWx0ZWpzL3ZpdGUtcGx1Z2luLXN2ZWx0ZSc7XG5cbi8qKlxuICogVGhyZWUgYnVpbGRzOiB0aGUgbWFpbiBwcm9jZXNzIChwbHVzIHRoZSB1dGlsaXR5LXByb2Nlc3Mgd29ya2VyIHRoYXQgaG9zdHMgZW5naW5lIGpvYnMpLFxuICogdGhlIHNhbmRib3hlZCBwcmVsb2FkIChDb21tb25KUzogRWxlY3Ryb24ncyBzYW5kYm94IGNhbm5vdCBsb2FkIEVTIG1vZHVsZSBwcmVsb2FkcyksXG4gKiBhbmQgdGhlIFN2ZWx0ZSByZW5kZXJlciByb290ZWQgYXQgcmVuZGVyZXIvLlxuICovXG5jb25zdCByb290ID0gZGlybmFtZShmaWxlVVJMVG9QYXRoKGltcG9ydC5tZXRhLnVybCkpO1xuXG5leHBvcnQgZGVmYXVsdCBkZWZpbmVDb25maWcoe1xuICBtYWluOiB7XG4gICAgYnVpbGQ6IHtcbiAgICAgIG91dERpcjogJ291dC9tYWluJyxcbiAgICAgIC8vIG5hdGl2ZSBtb2R1bGVzIHN0YXkgb3V0c2lkZSB0aGUgYnVuZGxlICh1bnBhY2tlZCBmcm9tIHRoZSBhc2FyIGJ5IGVsZWN0cm9uLWJ1aWxkZXIpXG4gICAgICBleHRlcm5hbGl6ZURlcHM6IHRydWUsXG4gICAgICByb2xsZG93bk9wdGlvbnM6IHtcbiAgICAgICAgaW5wdXQ6IHtcbiAgICAgICAgICBpbmRleDogcmVzb2x2ZShyb290LCAnbWFpbi9pbmRleC50cycpLFxuICAgICAgICAgIHdvcmtlcjogcmVzb2x2ZShyb290LCAnbWFpbi9qb2JzL3dvcmtlci50cycpLFxuICAgICAgICB9LFxuICAgICAgfSxcbiAgICB9LFxuICB9LFxuICBwcmVsb2FkOiB7XG4gICAgYnVpbGQ6IHtcbiAgICAgIG91dERpcjogJ291dC9wcmVsb2FkJyxcbiAgICAgIGV4dGVybmFsaXplRGVwczogZmFsc2UsXG4gICAgICByb2xsZG93bk9wdGlvbnM6IHtcbiAgICAgICAgaW5wdXQ6IHsgaW5kZXg6IHJlc29sdmUocm9vdCwgJ21haW4vcHJlbG9hZC9pbmRleC50cycpIH0sXG4gICAgICAgIG91dHB1dDogeyBmb3JtYXQ6ICdjanMnLCBlbnRyeUZpbGVOYW1lczogJ1tuYW1lXS5janMnIH0sXG4gICAgICB9LFxuICAgIH0sXG4gIH0sXG4gIHJlbmRlcmVyOiB7XG4gICAgcm9vdDogcmVzb2x2ZShyb290LCAncmVuZGVyZXInKSxcbiAgICAvLyB0aGUgcmVuZGVyZXIgaW1wb3J0cyBtYWluJ3MgdHlwZXMgYW5kIHB1cmUgaGVscGVycyBhcyBAbWFpbi/igKYgKG5ldmVyIE5vZGUgY29kZTogaXQgaXMgc2FuZGJveGVkKVxuICAgIHJlc29sdmU6IHsgYWxpYXM6IHsgJ0BtYWluJzogcmVzb2x2ZShyb290LCAnbWFpbicpIH0gfSxcbiAgICBwbHVnaW5zOiBbc3ZlbHRlKCldLFxuICAgIGJ1aWxkOiB7XG4gICAgICBvdXREaXI6IHJlc29sdmUocm9vdCwgJ291dC9yZW5kZXJlcicpLFxuICAgICAgcm9sbGRvd25PcHRpb25zOiB7IGlucHV0OiB7IGluZGV4OiByZXNvbHZlKHJvb3QsICdyZW5kZXJlci9pbmRleC5odG1sJykgfSB9LFxuICAgIH0sXG4gIH0sXG59KTtcbiJdLCJtYXBwaW5ncyI6Ijs7Ozs7Ozs7OztBQVVBLE1BQU0sT0FBTyxRQUFRLGNBQUEsNkNBQTZCLENBQUM7QUFFbkQsSUFBQSwrQkFBZSxhQUFhO0NBQzFCLE1BQU0sRUFDSixPQUFPO0VBQ0wsUUFBUTtFQUVSLGlCQUFpQjtFQUNqQixpQkFBaUIsRUFDZixPQUFPO0dBQ0wsT0FBTyxRQUFRLE1BQU0sZUFBZTtHQUNwQyxRQUFRLFFBQVEsTUFBTSxxQkFBcUI7RUFDN0MsRUFDRjtDQUNGLEVBQ0Y7Q0FDQSxTQUFTLEVBQ1AsT0FBTztFQUNMLFFBQVE7RUFDUixpQkFBaUI7RUFDakIsaUJBQWlCO0dBQ2YsT0FBTyxFQUFFLE9BQU8sUUFBUSxNQUFNLHVCQUF1QixFQUFFO0dBQ3ZELFFBQVE7SUFBRSxRQUFRO0lBQU8sZ0JBQWdCO0dBQWE7RUFDeEQ7Q0FDRixFQUNGO0NBQ0EsVUFBVTtFQUNSLE1BQU0sUUFBUSxNQUFNLFVBQVU7RUFFOUIsU0FBUyxFQUFFLE9BQU8sRUFBRSxTQUFTLFFBQVEsTUFBTSxNQUFNLEVBQUUsRUFBRTtFQUNyRCxTQUFTLENBQUMsT0FBTyxDQUFDO0VBQ2xCLE9BQU87R0FDTCxRQUFRLFFBQVEsTUFBTSxjQUFjO0dBQ3BDLGlCQUFpQixFQUFFLE9BQU8sRUFBRSxPQUFPLFFBQVEsTUFBTSxxQkFBcUIsRUFBRSxFQUFFO0VBQzVFO0NBQ0Y7QUFDRixDQUFDIn0=