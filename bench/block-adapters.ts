/**
 * The benchmark cases that adapt the linear layers of transformer blocks (LoRA, PACE and its variants): on a
 * backbone without such blocks (a CNN) the method refuses to prepare, so the benchmarks leave them out.
 */
import { loadBackbone } from '../engine/backbone/load';
import { blockLinears } from '../engine/methods/layers';

export const BLOCK_ADAPTER_CASES: ReadonlySet<string> = new Set(['lora', 'pace-base', 'pace', 'pace-fast']);

/** Whether `model` has linear layers inside transformer blocks for those cases to adapt. */
export async function hasTransformerBlocks(model: string): Promise<boolean> {
  return blockLinears((await loadBackbone(model)).model.graph).length > 0;
}
