/** Projects: list, create, open, rename, change split or method, delete. */
import { isAbsolute, relative, sep } from 'node:path';
import { grantProject, need, workspaceOf, type Handlers } from '../handler-context';
import { AttuneError } from '../errors';

export const projectHandlers = {
  async 'projects:list'(_req, ctx) {
    return (await workspaceOf(ctx)).listProjects();
  },
  async 'projects:create'(req, ctx) {
    return (await workspaceOf(ctx)).createProject(req.name);
  },
  async 'projects:get'(req, ctx) {
    return grantProject(ctx, await (await workspaceOf(ctx)).getProject(req.id));
  },
  async 'projects:update'(req, ctx) {
    const ws = await workspaceOf(ctx);
    const p = await ws.getProject(req.id);
    if (req.name !== undefined) p.name = req.name;
    if (req.split && JSON.stringify(req.split) !== JSON.stringify(p.split)) {
      p.split = req.split;
      p.splitFrom = null; // a new split: later runs no longer share the old one
    }
    if (req.method) p.method = req.method;
    if (req.window !== undefined && p.data) p.data = { ...p.data, window: req.window || undefined };
    if (req.bands !== undefined && p.data) p.data = { ...p.data, bands: req.bands || undefined };
    if (req.valueOffset !== undefined && p.data) {
      const { valueOffset: _was, ...rest } = p.data;
      p.data = req.valueOffset === null ? rest : { ...rest, valueOffset: req.valueOffset };
    }
    if (req.frames !== undefined && p.data && (req.frames === 'all') !== (p.data.frames === 'all')) {
      // other samples: the scan counts them again, and the next run makes a new split
      const { frames: _was, ...rest } = p.data;
      p.data = req.frames === 'all' ? { ...rest, frames: 'all' } : rest;
      p.scan = null;
      p.scannedAt = null;
      p.splitFrom = null;
    }
    return ws.saveProject(p);
  },
  /** a correction from the gallery: stored in the project, never in the user's folder; 'clear' undoes it */
  async 'projects:override'(req, ctx) {
    const ws = await workspaceOf(ctx);
    const p = grantProject(ctx, await ws.getProject(req.id));
    const data = need(p.data, 'No data chosen yet.', 'Choose your image folder first.');
    const rel = relative(data.path, ctx.allow.check(req.file));
    if (!rel || rel.startsWith('..') || isAbsolute(rel)) {
      throw new AttuneError(
        'not-in-dataset',
        'That image is not in this project’s data folder.',
        'Corrections apply to images of the project’s own dataset.',
      );
    }
    const key = rel.split(sep).join('/');
    const o = { exclude: (p.overrides?.exclude ?? []).filter((f) => f !== key), relabel: { ...p.overrides?.relabel } };
    delete o.relabel[key];
    if (req.action === 'exclude') o.exclude.push(key);
    if (req.action === 'relabel') {
      const classes = p.scan?.classes.map((c) => c.name) ?? [];
      const label = need(req.label, 'Say which class the image belongs to.', 'Pick the correct class.');
      if (!classes.includes(label))
        throw new AttuneError(
          'unknown-class',
          `"${label}" is not one of this dataset’s classes.`,
          `Choose one of: ${classes.join(', ')}.`,
        );
      o.relabel[key] = label;
    }
    p.overrides = o;
    return ws.saveProject(p);
  },
  async 'projects:delete'(req, ctx) {
    await (await workspaceOf(ctx)).deleteProject(req.id);
    return { deleted: true };
  },
} satisfies Partial<Handlers>;
