import type { BrowserWindow } from 'electron';

export { CSP } from './csp';

/** No navigation away from the app, no new windows, no remote content. */
export function hardenWindow(win: BrowserWindow): void {
  const wc = win.webContents;
  wc.on('will-navigate', (e, url) => {
    const dev = process.env.ELECTRON_RENDERER_URL;
    if (!(dev && url.startsWith(dev))) e.preventDefault();
  });
  wc.on('will-redirect', (e) => e.preventDefault());
  wc.setWindowOpenHandler(() => ({ action: 'deny' }));
  wc.on('will-attach-webview', (e) => e.preventDefault());
}
