/**
 * Checkpoint files: a JSON header (names, dtypes, shapes, byte offsets, plus free-form progress)
 * followed by raw little-endian tensor bytes. Written atomically, so a crash mid-write keeps the previous one.
 */
import { readFile } from 'node:fs/promises';
import { AttuneError } from '../errors';
import { allocate, type DType, type Tensor } from '../ir/tensor';
import { writeFileAtomic } from '../util/fs';

const MAGIC = 'ATTUNECK1';

interface Header {
  magic: string;
  meta: Record<string, unknown>;
  tensors: { name: string; dtype: DType; dims: number[]; offset: number; bytes: number }[];
}

export async function saveCheckpoint(
  path: string,
  tensors: Map<string, Tensor>,
  meta: Record<string, unknown>,
): Promise<void> {
  const entries: Header['tensors'] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    entries.push({ name, dtype: t.dtype, dims: t.dims, offset, bytes: t.data.byteLength });
    offset += t.data.byteLength;
  }
  const header = Buffer.from(JSON.stringify({ magic: MAGIC, meta, tensors: entries } satisfies Header));
  const out = Buffer.alloc(4 + header.length + offset);
  out.writeUInt32LE(header.length, 0);
  header.copy(out, 4);
  let pos = 4 + header.length;
  for (const t of tensors.values()) {
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(out, pos);
    pos += t.data.byteLength;
  }
  await writeFileAtomic(path, out);
}

export async function loadCheckpoint(
  path: string,
): Promise<{ tensors: Map<string, Tensor>; meta: Record<string, unknown> }> {
  const buf = await readFile(path);
  const len = buf.readUInt32LE(0);
  let header: Header;
  try {
    header = JSON.parse(buf.subarray(4, 4 + len).toString('utf8')) as Header;
  } catch {
    throw new AttuneError(
      'checkpoint-corrupt',
      `The checkpoint ${path} is damaged.`,
      'Start the run again from the beginning.',
    );
  }
  if (header.magic !== MAGIC)
    throw new AttuneError(
      'checkpoint-corrupt',
      `${path} is not an Attune checkpoint.`,
      'Choose a run folder created by Attune.',
    );
  const base = 4 + len;
  const tensors = new Map<string, Tensor>();
  for (const e of header.tensors) {
    const data = allocate(e.dtype, e.bytes / bytesPer(e.dtype));
    new Uint8Array(data.buffer).set(buf.subarray(base + e.offset, base + e.offset + e.bytes));
    tensors.set(e.name, { dtype: e.dtype, dims: e.dims, data });
  }
  return { tensors, meta: header.meta };
}

function bytesPer(d: DType): number {
  return d === 'float64' || d === 'int64' ? 8 : d === 'float32' || d === 'int32' ? 4 : d === 'float16' ? 2 : 1;
}
