/** Projects: list, create, open, rename, change split or method, delete. */
import { grantProject, workspaceOf, type Handlers } from '../handler-context';

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
    return ws.saveProject(p);
  },
  async 'projects:delete'(req, ctx) {
    await (await workspaceOf(ctx)).deleteProject(req.id);
    return { deleted: true };
  },
} satisfies Partial<Handlers>;
