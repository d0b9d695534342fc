/** App info and settings (workspace folder, model catalogue source, execution provider). */
import type { Handlers } from '../handler-context';

export const settingsHandlers = {
  async 'app:info'(_req, ctx) {
    const s = await ctx.settings.get();
    return {
      version: ctx.version,
      platform: ctx.platform,
      workspace: s.workspace,
      catalogueSource: s.catalogueSource,
      interruptedRuns: ctx.interruptedRuns,
      transport: ctx.transport,
    };
  },
  async 'settings:get'(_req, ctx) {
    return ctx.settings.get();
  },
  async 'settings:update'(req, ctx) {
    if (req.catalogueSource) ctx.allow.check(req.catalogueSource.startsWith('http') ? '/' : req.catalogueSource);
    return ctx.settings.update(req);
  },
  async 'settings:chooseWorkspace'(req, ctx) {
    const dir = await ctx.dialogs.chooseFolder(
      { title: 'Choose the workspace folder for projects and runs', buttonLabel: 'Use this folder' },
      req.path,
    );
    if (!dir) return null;
    ctx.allow.allow(dir);
    return ctx.settings.update({ workspace: dir });
  },
  async 'settings:chooseCatalogue'(req, ctx) {
    const dir = await ctx.dialogs.chooseFolder(
      { title: 'Choose a folder of ONNX models (or with a catalogue.json)', buttonLabel: 'Use as catalogue' },
      req.path,
    );
    if (!dir) return null;
    ctx.allow.allow(dir);
    return ctx.settings.update({ catalogueSource: dir });
  },
} satisfies Partial<Handlers>;
