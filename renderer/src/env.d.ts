/// <reference types="svelte" />
/// <reference types="vite/client" />
import type { AttuneApi } from '@main/ipc/contract';

declare global {
  interface Window {
    attune: AttuneApi;
  }
}
export {};
