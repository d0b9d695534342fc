/** Small JPEG data URLs for the scan report and the misclassified gallery (runs in the worker). */
import sharp from 'sharp';

export async function makeThumbnails(files: string[], size = 112): Promise<{ file: string; dataUrl: string | null; error?: string }[]> {
  const out: { file: string; dataUrl: string | null; error?: string }[] = [];
  for (const file of files) {
    try {
      const buf = await sharp(file, { failOn: 'none' }).rotate().resize(size, size, { fit: 'cover' }).jpeg({ quality: 72 }).toBuffer();
      out.push({ file, dataUrl: `data:image/jpeg;base64,${buf.toString('base64')}` });
    } catch (e) {
      out.push({ file, dataUrl: null, error: (e as Error).message });
    }
  }
  return out;
}
