/**
 * Recommended backbones. `file` is the name inside a catalogue source folder; `url` is the default remote location.
 * Checksums are pinned where we hold the exact file; entries without a pinned checksum are verified
 * trust-on-first-use (the hash of the first complete download is recorded in the cache and checked afterwards).
 */
export interface CataloguePreprocessing {
  size: number;
  mean: [number, number, number];
  std: [number, number, number];
}

export interface CatalogueEntry {
  id: string;
  name: string;
  description: string;
  file: string;
  url: string | null;
  sha256: string | null;
  sizeBytes: number | null;
  inputSize: number;
  parameters: number | null;
  preprocessing: CataloguePreprocessing;
  licence: string;
  recommended: boolean;
}

const VIT = { mean: [0.5, 0.5, 0.5] as [number, number, number], std: [0.5, 0.5, 0.5] as [number, number, number] };
const IMAGENET = {
  mean: [0.485, 0.456, 0.406] as [number, number, number],
  std: [0.229, 0.224, 0.225] as [number, number, number],
};

export const BUILT_IN_CATALOGUE: CatalogueEntry[] = [
  {
    id: 'vit-tiny-patch16-224',
    name: 'ViT-Tiny/16',
    description:
      'Small vision transformer pretrained on ImageNet-21k then 1k. A good default: accurate and quick on a laptop CPU.',
    file: 'vit-tiny-patch16-224.onnx',
    url: null,
    sha256: 'e7fba1f7d5797402a1ca557c542e9f382215229556c54b65e04c4a3f71129380',
    sizeBytes: 23165823,
    inputSize: 224,
    parameters: 5_700_000,
    preprocessing: { size: 224, ...VIT },
    licence: 'Apache-2.0',
    recommended: true,
  },
  {
    id: 'mobilenetv2-1.0',
    name: 'MobileNetV2 1.0',
    description: 'Compact convolutional network pretrained on ImageNet-1k. The fastest choice; slightly less accurate.',
    file: 'mobilenetv2-1.0-backbone.onnx',
    url: null,
    sha256: '98b2976a84eb197b28ac0520ffc9bbd4e139664cfb67fa17babd734e1b62bd39',
    sizeBytes: 9071762,
    inputSize: 224,
    parameters: 2_260_000,
    preprocessing: { size: 224, ...IMAGENET },
    licence: 'Apache-2.0',
    recommended: false,
  },
  {
    id: 'vit-base-patch16-224-in21k',
    name: 'ViT-Base/16 (ImageNet-21k)',
    description:
      'Larger vision transformer, the backbone used in the PEFT papers. Best accuracy; needs a GPU for comfortable training.',
    file: 'vit-base-patch16-224-in21k.onnx',
    url: 'https://huggingface.co/Xenova/vit-base-patch16-224-in21k/resolve/main/onnx/model.onnx',
    sha256: null,
    sizeBytes: null,
    inputSize: 224,
    parameters: 86_000_000,
    preprocessing: { size: 224, ...VIT },
    licence: 'Apache-2.0',
    recommended: false,
  },
  {
    id: 'dinov2-small',
    name: 'DINOv2 Small',
    description:
      'Self-supervised vision transformer with strong general-purpose features; a good second opinion for unusual images.',
    file: 'dinov2-small.onnx',
    url: 'https://huggingface.co/Xenova/dinov2-small/resolve/main/onnx/model.onnx',
    sha256: null,
    sizeBytes: null,
    inputSize: 224,
    parameters: 22_000_000,
    preprocessing: { size: 224, ...IMAGENET },
    licence: 'Apache-2.0',
    recommended: false,
  },
];
