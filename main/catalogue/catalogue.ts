/**
 * The model catalogue: where entries come from (built-in, a local folder, a JSON file or URL),
 * and a local cache so that a backbone downloaded once works offline.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BUILT_IN_CATALOGUE, type CatalogueEntry } from './entries';
import { z } from 'zod';
import { AttuneError } from '../ipc/errors';
import type { CatalogueEntryView } from '../ipc/types';

export interface ResolvedEntry extends CatalogueEntry {
  /** where to fetch from: https URL or absolute local path */
  location: string | null;
}

const ID = /^[a-zA-Z0-9._-]{1,80}$/;

export async function loadCatalogue(source: string | null): Promise<ResolvedEntry[]> {
  if (!source) return BUILT_IN_CATALOGUE.map((e) => ({ ...e, location: e.url }));
  if (/^https?:\/\//.test(source)) {
    const res = await fetch(source).catch(() => null);
    if (!res?.ok)
      throw new AttuneError(
        'catalogue-unreachable',
        `The model catalogue at ${source} could not be read.`,
        'Check your connection, or choose a local catalogue folder in Settings. Models already downloaded still work.',
      );
    return fromJson(await res.json(), source);
  }
  const path = resolve(source);
  const st = await stat(path).catch(() => null);
  if (!st)
    throw new AttuneError(
      'catalogue-missing',
      `The model catalogue "${source}" does not exist.`,
      'Choose another catalogue source in Settings, or clear it to use the built-in list.',
    );
  if (st.isFile()) return fromJson(JSON.parse(await readFile(path, 'utf8')), dirname(path));
  const json = join(path, 'catalogue.json');
  if (await stat(json).catch(() => null)) return fromJson(JSON.parse(await readFile(json, 'utf8')), path);
  // A plain folder of .onnx files: known files get the built-in metadata, others a generic entry.
  const files = (await readdir(path)).filter((f) => extname(f).toLowerCase() === '.onnx').sort();
  const out: ResolvedEntry[] = [];
  for (const e of BUILT_IN_CATALOGUE) if (files.includes(e.file)) out.push({ ...e, location: join(path, e.file) });
  for (const f of files) {
    if (out.some((e) => e.file === f)) continue;
    const s = await stat(join(path, f));
    out.push({
      id: basename(f, '.onnx'),
      name: basename(f, '.onnx'),
      description: 'A model from the configured catalogue folder. Its compatibility is checked when you select it.',
      file: f,
      url: null,
      sha256: null,
      sizeBytes: s.size,
      inputSize: 0,
      parameters: null,
      preprocessing: { size: 224, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
      licence: 'see source',
      recommended: false,
      location: join(path, f),
    });
  }
  return out;
}

/** A catalogue file is user input: every field is checked; missing ones come from the built-in entry of the same id. */
const CatalogueRow = z
  .object({
    id: z.string(),
    name: z.string().optional(),
    description: z.string().optional(),
    file: z.string().optional(),
    url: z.string().nullable().optional(),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/i)
      .nullable()
      .optional(),
    sizeBytes: z.number().int().positive().nullable().optional(),
    inputSize: z.number().int().positive().optional(),
    parameters: z.number().int().positive().nullable().optional(),
    preprocessing: z
      .object({
        size: z.number().int().positive().optional(),
        mean: z.tuple([z.number(), z.number(), z.number()]),
        std: z.tuple([z.number(), z.number(), z.number()]),
      })
      .passthrough()
      .optional(),
    licence: z.string().optional(),
    recommended: z.boolean().optional(),
  })
  .passthrough();

function fromJson(raw: unknown, base: string): ResolvedEntry[] {
  const list = Array.isArray(raw) ? raw : (raw as { models?: unknown[] })?.models;
  const parsed = z.array(CatalogueRow).safeParse(list);
  if (!parsed.success)
    throw new AttuneError(
      'catalogue-invalid',
      `The model catalogue file is not in the expected format (${parsed.error.issues[0]?.path.join('.') || 'top level'}: ${parsed.error.issues[0]?.message}).`,
      'It must be a JSON list of models (or {"models": [...]}). Clear the catalogue source in Settings to use the built-in list.',
    );
  return parsed.data.map((r) => {
    const known = BUILT_IN_CATALOGUE.find((e) => e.id === r.id);
    const e = { ...known, ...r } as CatalogueEntry;
    if (!e.id || !ID.test(e.id) || !e.file)
      throw new AttuneError(
        'catalogue-invalid',
        `A catalogue entry is missing its id or file name.`,
        'Fix the catalogue file, or clear the catalogue source in Settings.',
      );
    const loc = r.url ?? e.file;
    const location = /^https?:\/\//.test(loc)
      ? loc
      : /^https?:\/\//.test(base)
        ? new URL(loc, base).href
        : isAbsolute(loc)
          ? loc
          : join(base, loc);
    return { ...e, location };
  });
}

export class ModelCache {
  constructor(readonly dir: string) {}

  pathFor(e: CatalogueEntry): string {
    return join(this.dir, e.id, e.file);
  }

  async view(e: ResolvedEntry): Promise<CatalogueEntryView> {
    const file = this.pathFor(e);
    const cached = !!(await stat(file).catch(() => null));
    const part = await stat(file + '.part').catch(() => null);
    return {
      id: e.id,
      name: e.name,
      description: e.description,
      sizeBytes: e.sizeBytes,
      inputSize: e.inputSize,
      parameters: e.parameters,
      licence: e.licence,
      recommended: e.recommended,
      source: e.location ?? 'not available from this catalogue source',
      available: cached || !!e.location,
      cached,
      cachedPath: cached ? file : null,
      partialBytes: part?.size ?? 0,
      checksumPinned: !!e.sha256,
    };
  }

  /** Download (or copy from a local source) with progress, HTTP Range resume and checksum verification. */
  async fetch(
    e: ResolvedEntry,
    opts: {
      signal: AbortSignal;
      onProgress: (received: number, total: number | null, phase: 'downloading' | 'verifying') => void;
    },
  ): Promise<string> {
    const dest = this.pathFor(e);
    if (await stat(dest).catch(() => null)) return dest;
    if (!e.location) {
      throw new AttuneError(
        'no-source',
        `${e.name} is not available from the current catalogue source.`,
        'Choose a catalogue source that contains it in Settings, or use "Open ONNX…" with a file you already have.',
      );
    }
    await mkdir(dirname(dest), { recursive: true });
    const part = dest + '.part';
    let offset = (await stat(part).catch(() => null))?.size ?? 0;
    let total = e.sizeBytes;
    let body: Readable;
    if (/^https?:\/\//.test(e.location)) {
      const headers: Record<string, string> = offset > 0 ? { Range: `bytes=${offset}-` } : {};
      let res: Response;
      try {
        res = await fetch(e.location, { headers, signal: opts.signal, redirect: 'follow' });
      } catch (err) {
        if (opts.signal.aborted) throw err;
        throw new AttuneError(
          'offline',
          `Could not reach ${new URL(e.location).host} to download ${e.name}.`,
          'Check your internet connection and try again; the download resumes where it stopped. Models already downloaded work offline.',
        );
      }
      if (res.status === 200)
        offset = 0; // server ignored the range: start over
      else if (res.status !== 206)
        throw new AttuneError(
          'download-failed',
          `The download of ${e.name} failed (HTTP ${res.status}).`,
          'Try again later, or choose another catalogue source in Settings.',
        );
      const len = Number(res.headers.get('content-length'));
      if (Number.isFinite(len) && len > 0) total = offset + len;
      body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
    } else {
      const st = await stat(e.location).catch(() => null);
      if (!st)
        throw new AttuneError(
          'no-source',
          `${e.name} was not found at ${e.location}.`,
          'Check the catalogue source folder in Settings.',
        );
      total = st.size;
      if (offset > st.size) offset = 0;
      body = createReadStream(e.location, { start: offset, signal: opts.signal });
    }
    let received = offset;
    let last = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        received += chunk.length;
        const now = Date.now();
        if (now - last > 100) {
          last = now;
          opts.onProgress(received, total, 'downloading');
        }
        cb(null, chunk);
      },
    });
    await pipeline(body, counter, createWriteStream(part, { flags: offset > 0 ? 'a' : 'w' }), { signal: opts.signal });
    opts.onProgress(received, total, 'verifying');
    const hash = await sha256File(part);
    const pinFile = join(dirname(dest), 'sha256');
    const pinned = e.sha256 ?? (await readFile(pinFile, 'utf8').catch(() => '')).trim();
    if (pinned && hash !== pinned) {
      await rm(part, { force: true });
      throw new AttuneError(
        'checksum',
        `The downloaded ${e.name} is damaged or not the expected file (checksum mismatch).`,
        'Download it again. If this repeats, the catalogue source may be serving a different file.',
      );
    }
    await writeFile(pinFile, hash + '\n');
    await rename(part, dest);
    return dest;
  }
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(file), h);
  return h.digest('hex');
}
