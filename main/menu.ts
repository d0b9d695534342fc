import { Menu, type BrowserWindow, type MenuItemConstructorOptions } from 'electron';
import { EVENT_CHANNEL } from './ipc/channels';

export function buildMenu(getWin: () => BrowserWindow | null): Menu {
  const isMac = process.platform === 'darwin';
  const go = (route: string) => () => getWin()?.webContents.send(EVENT_CHANNEL, { type: 'navigate', route });
  const template: MenuItemConstructorOptions[] = [
    ...(isMac ? [{ role: 'appMenu' as const }] : []),
    {
      label: 'File',
      submenu: [
        { label: 'New Project…', accelerator: 'CmdOrCtrl+N', click: go('new-project') },
        { label: 'Home', accelerator: 'CmdOrCtrl+Shift+H', click: go('home') },
        { type: 'separator' },
        { label: 'Settings…', accelerator: 'CmdOrCtrl+,', click: go('settings') },
        { type: 'separator' },
        isMac ? { role: 'close' } : { role: 'quit' },
      ],
    },
    { role: 'editMenu' },
    {
      label: 'View',
      submenu: [
        { role: 'resetZoom' },
        { role: 'zoomIn' },
        { role: 'zoomOut' },
        { type: 'separator' },
        { role: 'togglefullscreen' },
        ...(process.env.ELECTRON_RENDERER_URL ? [{ role: 'toggleDevTools' as const }] : []),
      ],
    },
    { role: 'windowMenu' },
  ];
  return Menu.buildFromTemplate(template);
}
