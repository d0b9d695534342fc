/** Channel names for the preload (which must not bundle zod). Checked against contract.ts in dispatch.ts. */
export const CHANNEL_PREFIXES = [
  'app:',
  'settings:',
  'projects:',
  'data:',
  'models:',
  'methods:',
  'runs:',
  'jobs:',
  'export:',
  'shell:',
  'files:',
] as const;
export const INVOKE_CHANNEL = 'attune:invoke';
export const EVENT_CHANNEL = 'attune:event';
export const GRANT_DROP_CHANNEL = 'attune:grant-drop';
