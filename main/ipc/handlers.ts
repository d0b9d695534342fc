/**
 * IPC handlers: plain async functions (request, ctx) → response, independent of the transport.
 * Electron serves them over ipcMain (main/index.ts); browser mode serves the same functions over HTTP
 * (main/server). One module per area under ./areas; the compiler checks that every channel has its handler.
 */
import type { Handlers } from './handler-context';
import { settingsHandlers } from './areas/settings';
import { projectHandlers } from './areas/projects';
import { dataHandlers } from './areas/data';
import { modelHandlers } from './areas/models';
import { runHandlers } from './areas/runs';
import { exportHandlers } from './areas/export';
import { fileHandlers } from './areas/files';

export type { Dialogs, HandlerContext, Handlers } from './handler-context';

export const handlers: Handlers = {
  ...settingsHandlers,
  ...projectHandlers,
  ...dataHandlers,
  ...modelHandlers,
  ...runHandlers,
  ...exportHandlers,
  ...fileHandlers,
};
