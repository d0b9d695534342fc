/**
 * Small JPEG data URLs for the scan report and the misclassified gallery (runs in the worker). Photos go
 * through sharp; DICOM, 16-bit and multispectral images (or any image when a window is chosen) through the
 * engine's preview, so the thumbnail shows the window or bands the model will see.
 */
import sharp from 'sharp';
import { previewImage } from '../../engine/api';

export async function makeThumbnails(
  files: string[],
  size = 112,
  view: { window?: string; bands?: string; valueOffset?: number } = {},
): Promise<{ file: string; dataUrl: string | null; error?: string }[]> {
  const out: { file: string; dataUrl: string | null; error?: string }[] = [];
  for (const file of files) {
    try {
      if (view.window || view.bands || view.valueOffset !== undefined) {
        out.push({ file, dataUrl: await previewImage(file, { ...view, size }) });
        continue;
      }
      const buf = await sharp(file, { failOn: 'none' })
        .metadata()
        .then((m) =>
          m.depth === 'uchar' && (m.channels ?? 3) <= 4
            ? sharp(file, { failOn: 'none' })
                .rotate()
                .resize(size, size, { fit: 'cover' })
                .jpeg({ quality: 72 })
                .toBuffer()
            : undefined,
        )
        .catch(() => undefined);
      if (!buf) {
        out.push({ file, dataUrl: await previewImage(file, { size }) });
        continue;
      }
      out.push({ file, dataUrl: `data:image/jpeg;base64,${buf.toString('base64')}` });
    } catch (e) {
      out.push({ file, dataUrl: null, error: (e as Error).message });
    }
  }
  return out;
}
