/** Export a run as a standalone ONNX model, try it on an image, show files in the system's file manager. */
import { readdir } from 'node:fs/promises';
import { cancellable, need, workspaceOf, type Handlers } from '../handler-context';
import { AttuneError } from '../errors';

const IMAGE_EXTENSIONS = ['png', 'jpg', 'jpeg', 'tif', 'tiff', 'webp', 'dcm', 'dicom'];

const READABLE_IMAGE = 'Check that the file is an image Attune can read (PNG, JPEG, TIFF, DICOM, GeoTIFF).';

export const exportHandlers = {
  async 'export:chooseFolder'(req, ctx) {
    const dir = await ctx.dialogs.chooseFolder(
      { title: 'Choose where to write the exported model', buttonLabel: 'Export here' },
      req.path,
    );
    return dir ? ctx.allow.allow(dir) : null;
  },
  async 'export:run'(req, ctx) {
    const ws = await workspaceOf(ctx);
    const record = await ws.getRun(req.projectId, req.runId);
    const outDir = ctx.allow.check(req.outDir);
    // never overwrite an earlier export silently: the user confirms replacing it
    if (!req.replace && (await readdir(outDir).catch(() => [] as string[])).includes('model.onnx')) {
      throw new AttuneError(
        'export-exists',
        'This folder already holds an exported model (model.onnx).',
        'Choose another folder, or click "Replace it" to overwrite the earlier export.',
      );
    }
    const jobId = `export-${record.id}`;
    const result = await cancellable(ctx, jobId, 'The export was cancelled.', (signal) =>
      ctx.jobs.call(
        'exportRun',
        [record.runDir, outDir, { operatingPoint: req.operatingPoint, referBelow: req.referBelow }],
        {
          dedicated: true,
          signal,
          cancelGraceMs: 2000,
          onEvent: (event) => ctx.emit({ type: 'job-event', jobId, runId: record.id, event }),
        },
      ),
    );
    record.exports = [...new Set([...record.exports, result.outDir])];
    await ws.saveRun(record);
    ctx.allow.allow(result.outDir);
    return result;
  },
  async 'export:chooseImage'(req, ctx) {
    const file = await ctx.dialogs.chooseFile(
      {
        title: 'Choose an image to try the exported model on',
        filters: [
          { name: 'Images (photos, 16-bit, DICOM, GeoTIFF)', extensions: IMAGE_EXTENSIONS },
          // PACS exports often have no extension: DICOM is recognised by content
          { name: 'All files', extensions: ['*'] },
        ],
      },
      req.path,
    );
    return file ? ctx.allow.allow(file) : null;
  },
  async 'export:try'(req, ctx) {
    const modelPath = ctx.allow.check(req.modelPath);
    const file = ctx.allow.check(req.file);
    const [prediction] = await ctx.jobs.call('predictWithModel', [modelPath, [file]]);
    return need(prediction, 'The model returned no prediction for this image.', READABLE_IMAGE);
  },
  async 'export:explain'(req, ctx) {
    const modelPath = ctx.allow.check(req.modelPath);
    const file = ctx.allow.check(req.file);
    const [explanation] = await ctx.jobs.call('explainImages', [{ modelPath }, [file]]);
    return need(explanation, 'The model gave no explanation for this image.', READABLE_IMAGE);
  },

  async 'shell:reveal'(req, ctx) {
    const path = ctx.allow.check(req.path);
    if (!ctx.reveal) return { shown: false };
    ctx.reveal(path);
    return { shown: true };
  },
} satisfies Partial<Handlers>;
