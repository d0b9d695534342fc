/** The user's labelled images: choose a folder or CSV, scan it, thumbnails. The folder is only ever read. */
import { dirname, join } from 'node:path';
import { stat } from 'node:fs/promises';
import { cancellable, grantProject, need, workspaceOf, type HandlerContext, type Handlers } from '../handler-context';
import { AttuneError } from '../errors';
import type { Project } from '../types';

async function setData(ctx: HandlerContext, projectId: string, data: Project['data']): Promise<Project> {
  const ws = await workspaceOf(ctx);
  const p = await ws.getProject(projectId);
  p.data = data;
  p.splitFrom = null;
  p.scan = null;
  p.scannedAt = null;
  return ws.saveProject(p);
}

export const dataHandlers = {
  async 'data:chooseFolder'(req, ctx) {
    const dir = await ctx.dialogs.chooseFolder(
      { title: 'Choose the folder with your labelled images', buttonLabel: 'Use this folder' },
      req.path,
    );
    if (!dir) return null;
    return setData(ctx, req.projectId, { kind: 'folder', path: ctx.allow.allow(dir) });
  },
  async 'data:chooseCsv'(req, ctx) {
    const file = await ctx.dialogs.chooseFile(
      { title: 'Choose a CSV of image paths and labels', filters: [{ name: 'CSV', extensions: ['csv'] }] },
      req.path,
    );
    if (!file) return null;
    ctx.allow.allow(file);
    const root = ctx.allow.allow(dirname(file));
    return setData(ctx, req.projectId, { kind: 'csv', path: root, csvPath: file });
  },
  async 'data:useDropped'(req, ctx) {
    const path = ctx.allow.check(req.path);
    const st = await stat(path);
    if (st.isDirectory()) return setData(ctx, req.projectId, { kind: 'folder', path });
    if (path.toLowerCase().endsWith('.csv'))
      return setData(ctx, req.projectId, { kind: 'csv', path: ctx.allow.allow(dirname(path)), csvPath: path });
    throw new AttuneError(
      'not-a-dataset',
      'That is a single file, not a dataset.',
      'Drop the folder that holds one subfolder per class, or a CSV file listing images and labels.',
    );
  },
  async 'data:scan'(req, ctx) {
    const ws = await workspaceOf(ctx);
    const p = grantProject(ctx, await ws.getProject(req.projectId));
    const data = need(p.data, 'No data chosen yet.', 'Choose a folder of labelled images or a labels CSV first.');
    const jobId = `scan-${p.id}`;
    const report = await cancellable(ctx, jobId, 'The scan was cancelled.', (signal) =>
      ctx.jobs.call(
        'scanDataset',
        [ctx.allow.check(data.path), { csvPath: data.csvPath, cacheDir: join(ws.root, 'scan-cache') }],
        {
          dedicated: true,
          signal,
          cancelGraceMs: 500,
          onEvent: (event) => ctx.emit({ type: 'job-event', jobId, event }),
        },
      ),
    );
    p.scan = report;
    p.scannedAt = new Date().toISOString();
    await ws.saveProject(p);
    return report;
  },
  async 'data:thumbnails'(req, ctx) {
    const files = req.files.map((f) => ctx.allow.check(f));
    return ctx.jobs.call('thumbnails', [files, req.size, { window: req.window, bands: req.bands }]);
  },
} satisfies Partial<Handlers>;
