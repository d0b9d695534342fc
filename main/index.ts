/**
 * Electron main process: one window, menu, dialogs, IPC (validated by main/ipc/contract.ts),
 * and engine jobs in utility processes (main/jobs). Main never runs training on its own event loop.
 */
import { app, BrowserWindow, dialog, ipcMain, Menu, nativeTheme, session, shell } from 'electron';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createContext } from './context';
import { dispatch } from './ipc/dispatch';
import { EVENT_CHANNEL, GRANT_DROP_CHANNEL, INVOKE_CHANNEL } from './ipc/channels';
import { electronWorkerFactory } from './jobs/electron-worker';
import type { HandlerContext } from './ipc/handler-context';
import type { AppEvent } from './ipc/types';
import { buildMenu } from './menu';
import { CSP, hardenWindow } from './security/window-security';

const here = fileURLToPath(new URL('.', import.meta.url));
let win: BrowserWindow | null = null;
let ctx: HandlerContext | null = null;

function send(e: AppEvent): void {
  if (win && !win.isDestroyed()) win.webContents.send(EVENT_CHANNEL, e);
}

async function createWindow(): Promise<void> {
  win = new BrowserWindow({
    width: 1280,
    height: 800,
    minWidth: 1024,
    minHeight: 680,
    show: false,
    title: 'Attune',
    backgroundColor: nativeTheme.shouldUseDarkColors ? '#14181e' : '#f6f7f9',
    icon: app.isPackaged ? join(process.resourcesPath, 'icon.png') : join(here, '../../resources/icon.png'),
    webPreferences: {
      preload: join(here, '../preload/index.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      spellcheck: false,
    },
  });
  hardenWindow(win);
  win.once('ready-to-show', () => win?.show());
  if (!app.isPackaged && process.env.ELECTRON_RENDERER_URL) await win.loadURL(process.env.ELECTRON_RENDERER_URL);
  else await win.loadFile(join(here, '../renderer/index.html'));
}

app.enableSandbox();

app.whenReady().then(async () => {
  // strict CSP on every response, in addition to the meta tag in renderer/index.html
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CSP] } });
  });
  // no permissions (camera, notifications, …) for the renderer
  session.defaultSession.setPermissionRequestHandler((_wc, _perm, cb) => cb(false));

  try {
    ctx = await createContext({
      userData: app.getPath('userData'),
      workerFactory: electronWorkerFactory(join(here, 'worker.js')),
      dialogs: {
        // native dialogs: a path the page sends along is ignored
        async chooseFolder({ title, buttonLabel }) {
          const r = await dialog.showOpenDialog(win!, {
            title,
            buttonLabel,
            properties: ['openDirectory', 'createDirectory'],
          });
          return r.canceled ? null : (r.filePaths[0] ?? null);
        },
        async chooseFile({ title, filters = [] }) {
          const r = await dialog.showOpenDialog(win!, { title, filters, properties: ['openFile'] });
          return r.canceled ? null : (r.filePaths[0] ?? null);
        },
      },
      emit: send,
      reveal: (p) => shell.showItemInFolder(p),
      version: app.getVersion(),
      platform: process.platform,
      transport: 'electron',
    });
  } catch (e) {
    dialog.showErrorBox(
      'Attune cannot open its workspace',
      `${(e as Error).message}\n\nCheck that the workspace folder (${app.getPath('userData')}) is on a connected drive and that you can write to it, then start Attune again.`,
    );
    app.quit();
    return;
  }

  ipcMain.handle(INVOKE_CHANNEL, (event, channel: unknown, request: unknown) => {
    if (event.sender !== win?.webContents)
      return { ok: false, error: { code: 'forbidden', message: 'Request from an unknown window.', hint: '' } };
    return dispatch(ctx!, channel, request);
  });
  // dropped files' paths: sent by the preload (which gets them from real File objects), never typed by the page
  ipcMain.handle(GRANT_DROP_CHANNEL, (event, path: unknown) => {
    if (event.sender !== win?.webContents || typeof path !== 'string' || !path) return null;
    return ctx!.allow.allow(path);
  });

  Menu.setApplicationMenu(buildMenu(() => win));
  await createWindow();

  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) void createWindow();
  });
});

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit();
});

app.on('before-quit', () => ctx?.jobs.dispose());
