/**
 * The only bridge between the page and the app: one typed object, `window.attune`.
 * Sandboxed preload: it may use only `electron`'s renderer modules.
 */
import { contextBridge, ipcRenderer, webUtils } from 'electron';
import { CHANNEL_PREFIXES, EVENT_CHANNEL, GRANT_DROP_CHANNEL, INVOKE_CHANNEL } from '../ipc/channels';
import type { AttuneApi } from '../ipc/contract';

const api: AttuneApi = {
  invoke(channel, request) {
    if (typeof channel !== 'string' || !CHANNEL_PREFIXES.some((p) => channel.startsWith(p))) {
      return Promise.resolve({ ok: false, error: { code: 'unknown-channel', message: 'Unknown request.', hint: '' } });
    }
    return ipcRenderer.invoke(INVOKE_CHANNEL, channel, request);
  },
  onEvent(cb) {
    const listener = (_e: unknown, payload: Parameters<typeof cb>[0]) => cb(payload);
    ipcRenderer.on(EVENT_CHANNEL, listener);
    return () => ipcRenderer.removeListener(EVENT_CHANNEL, listener);
  },
  async grantDropped(file) {
    if (!(file instanceof File)) throw new Error('not a dropped file');
    const path = webUtils.getPathForFile(file);
    if (!path) throw new Error('This item has no location on disk.');
    const granted = await ipcRenderer.invoke(GRANT_DROP_CHANNEL, path);
    if (typeof granted !== 'string') throw new Error('The dropped item could not be opened.');
    return granted;
  },
};

contextBridge.exposeInMainWorld('attune', api);
