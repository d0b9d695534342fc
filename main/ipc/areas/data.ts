/** The user's labelled images: choose a folder or CSV, scan it, thumbnails. The folder is only ever read. */
import { dirname, join } from 'node:path';
import { open, stat } from 'node:fs/promises';
import { labelsHeader } from '../../../engine/data/labels';
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

function csvOf(p: Project): string {
  const data = need(p.data, 'No data chosen yet.', 'Choose a folder of labelled images or a labels CSV first.');
  return need(data.csvPath, 'This project’s labels come from its folders, not a CSV.', 'Choose a CSV of labels first.');
}

/** The first 64 KiB are enough for a header line; the rest of a large table is not read. */
async function readCsvHeader(file: string): Promise<ReturnType<typeof labelsHeader>> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return labelsHeader(file, buf.subarray(0, bytesRead).toString('utf8'));
  } finally {
    await fh.close();
  }
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
  async 'data:csvColumns'(req, ctx) {
    const ws = await workspaceOf(ctx);
    const p = grantProject(ctx, await ws.getProject(req.projectId));
    const csv = csvOf(p);
    return { ...(await readCsvHeader(ctx.allow.check(csv))), chosen: p.data?.columns ?? null };
  },
  async 'data:setColumns'(req, ctx) {
    const ws = await workspaceOf(ctx);
    const p = grantProject(ctx, await ws.getProject(req.projectId));
    const csv = csvOf(p);
    if (req.columns) {
      const { header } = await readCsvHeader(ctx.allow.check(csv));
      const picked = [req.columns.path, req.columns.label, req.columns.group].filter((c) => c !== undefined);
      const unknown = picked.find((c) => !header.includes(c));
      if (unknown !== undefined)
        throw new AttuneError(
          'labels-column',
          `The CSV has no column "${unknown}".`,
          `Choose among its columns: ${header.join(', ')}.`,
        );
      if (new Set(picked).size !== picked.length)
        throw new AttuneError(
          'labels-column',
          'The path, label and group must be three different columns.',
          'Choose a different column for each.',
        );
    }
    // other columns are other data: a new scan, and a new split for the next run
    const { columns: _old, ...rest } = p.data!;
    return setData(ctx, p.id, req.columns ? { ...rest, columns: req.columns } : rest);
  },
  async 'data:scan'(req, ctx) {
    const ws = await workspaceOf(ctx);
    const p = grantProject(ctx, await ws.getProject(req.projectId));
    const data = need(p.data, 'No data chosen yet.', 'Choose a folder of labelled images or a labels CSV first.');
    const jobId = `scan-${p.id}`;
    const report = await cancellable(ctx, jobId, 'The scan was cancelled.', (signal) =>
      ctx.jobs.call(
        'scanDataset',
        [
          ctx.allow.check(data.path),
          {
            csvPath: data.csvPath,
            ...(data.columns ? { columns: data.columns } : {}),
            ...(data.frames ? { frames: data.frames } : {}),
            cacheDir: join(ws.root, 'scan-cache'),
          },
        ],
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
    return ctx.jobs.call('thumbnails', [
      files,
      req.size,
      { window: req.window, bands: req.bands, valueOffset: req.valueOffset },
    ]);
  },
} satisfies Partial<Handlers>;
