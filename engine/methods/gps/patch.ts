/**
 * The GPS sparse patch (METHODS.md §GPS step 4): what turns the pretrained backbone into the exported
 * model — indices and values of the selected weights, every trained dense tensor (biases, the head),
 * how the head is attached, and the backbone's sha256. One binary file:
 *   "ATGPSPT1" | u32 LE header length | header JSON (utf-8) | zero padding to 4 bytes | data
 * Applying a patch is export work (export/apply-gps-patch.ts).
 * Sparse entries store flat element offsets (int32) and the final float32 values (not δ), so applying
 * the patch reproduces the export's initializers bit for bit.
 */
import { join } from 'node:path';
import { HEAD_WEIGHT, type FeatureInfo } from '../../backbone/prepare';
import { AttuneError } from '../../errors';
import type { Model } from '../../ir/graph';
import { tensor, type Tensor } from '../../ir/tensor';
import { loadModel } from '../../onnx/io';
import { writeFileAtomic } from '../../util/fs';
import { flatIndex } from '../layers';
import { gpsDelta, mergeGpsWeight, type GpsState } from './weights';

const MAGIC = 'ATGPSPT1';
export const PATCH_FILE = 'gps-patch.bin';

interface SparseEntry {
  name: string;
  shape: number[];
  count: number;
  indexOffset: number;
  valueOffset: number;
}
interface DenseEntry {
  name: string;
  shape: number[];
  offset: number;
}
export interface PatchHeader {
  format: 'attune-gps-patch';
  version: 1;
  backboneSha256: string;
  features: FeatureInfo;
  numClasses: number;
  k: number;
  sparse: SparseEntry[];
  dense: DenseEntry[];
  metadata: Record<string, string>;
  producer: string;
}

export interface GpsPatch {
  header: PatchHeader;
  sparse: Map<string, { offsets: Int32Array; values: Float32Array }>;
  dense: Map<string, Tensor>;
}

export function encodePatch(
  header: Omit<PatchHeader, 'sparse' | 'dense'>,
  sparse: GpsPatch['sparse'],
  dense: Map<string, Tensor>,
): Uint8Array {
  const chunks: Uint8Array[] = [];
  let at = 0;
  const push = (a: Int32Array | Float32Array) => {
    const off = at;
    chunks.push(new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength)));
    at += a.byteLength;
    return off;
  };
  const sp: SparseEntry[] = [];
  for (const [name, s] of sparse)
    sp.push({ name, shape: [], count: s.offsets.length, indexOffset: push(s.offsets), valueOffset: push(s.values) });
  const de: DenseEntry[] = [];
  for (const [name, t] of dense) de.push({ name, shape: t.dims, offset: push(t.data as Float32Array) });
  const json = new TextEncoder().encode(JSON.stringify({ ...header, sparse: sp, dense: de }));
  const pre = 8 + 4 + json.length;
  const pad = (4 - (pre % 4)) % 4;
  const out = new Uint8Array(pre + pad + at);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(8, json.length, true);
  out.set(json, 12);
  let p = pre + pad;
  for (const c of chunks) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}

export function decodePatch(bytes: Uint8Array): GpsPatch {
  if (new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC)
    throw new AttuneError(
      'patch-invalid',
      'This file is not an Attune GPS patch.',
      'Choose the gps-patch.bin file written by `attune export`.',
    );
  const len = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + len))) as PatchHeader;
  const base = 12 + len + ((4 - ((12 + len) % 4)) % 4);
  const data = bytes.slice(base); // aligned copy
  const f32 = (off: number, n: number) => new Float32Array(data.buffer, off, n);
  const sparse = new Map(
    header.sparse.map((s) => [
      s.name,
      { offsets: new Int32Array(data.buffer, s.indexOffset, s.count), values: f32(s.valueOffset, s.count) },
    ]),
  );
  const dense = new Map(
    header.dense.map((d) => [
      d.name,
      tensor(
        'float32',
        d.shape,
        f32(
          d.offset,
          d.shape.reduce((a, b) => a * b, 1),
        ),
      ),
    ]),
  );
  return { header, sparse, dense };
}

/** Writes outDir/gps-patch.bin after the export wrote outDir/model.onnx (its metadata goes into the patch). */
export async function writeGpsPatch(
  outDir: string,
  backbone: Model,
  trained: Map<string, Tensor>,
  state: GpsState,
  features: FeatureInfo,
): Promise<string> {
  const exported = loadModel(join(outDir, 'model.onnx'));
  const K = state.k;
  const sparse: GpsPatch['sparse'] = new Map();
  for (const m of state.matrices) {
    const delta = trained.get(gpsDelta(m.name));
    const w0 = backbone.graph.initializers.get(m.name);
    if (!delta || !w0)
      throw new AttuneError(
        'gps-state-mismatch',
        `The GPS patch cannot be written: no trained update for ${m.name}, or the backbone has no such weight.`,
        'Export with the backbone the run was trained on.',
      );
    const merged = mergeGpsWeight(w0, m, K, delta).data as Float32Array;
    const offsets = new Int32Array(m.rows * K);
    for (let r = 0; r < m.rows; r++) for (let j = 0; j < K; j++) offsets[r * K + j] = flatIndex(m, r, m.idx[r * K + j]);
    sparse.set(m.name, { offsets, values: Float32Array.from(offsets, (o) => merged[o]) });
  }
  const dense = new Map([...trained].filter(([k]) => backbone.graph.initializers.has(k)));
  const header = {
    format: 'attune-gps-patch' as const,
    version: 1 as const,
    backboneSha256: exported.metadata['attune.backbone_sha256'] ?? '',
    features,
    numClasses: backbone.graph.initializers.get(HEAD_WEIGHT)!.dims[0],
    k: K,
    metadata: exported.metadata,
    producer: exported.producer,
  };
  const path = join(outDir, PATCH_FILE);
  await writeFileAtomic(path, encodePatch(header, sparse, dense));
  return path;
}
