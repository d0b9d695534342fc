"""A larger ViT for `npm run bench:train -- --model`: torchvision's VisionTransformer at ViT-Small or ViT-Base size.

The weights are torchvision's random init (seed 0): a training step's cost does not depend on them, and nothing has to
be downloaded. Exported the way ../shared/models/vit-tiny-patch16-224.onnx was (torch.onnx.export, opset 17, input
`pixel_values` [batch, 3, 224, 224] with a dynamic batch, output `logits`), so the engine reads both alike.
Needs Debian's python3-torch and python3-torchvision (in /usr/bin/python3's path):

    /usr/bin/python3 bench/reference/export_vit.py --size base --out /tmp/vit-base-random.onnx
"""
import argparse

import torch
from torchvision.models.vision_transformer import VisionTransformer

SIZES = {
    # hidden, layers, heads, MLP: the ViT paper's configurations (patch 16, 224 pixels)
    'tiny': (192, 12, 3, 768),
    'small': (384, 12, 6, 1536),
    'base': (768, 12, 12, 3072),
}
parser = argparse.ArgumentParser()
parser.add_argument('--size', choices=sorted(SIZES), default='base')
parser.add_argument('--out', required=True)
args = parser.parse_args()

hidden, layers, heads, mlp = SIZES[args.size]
torch.manual_seed(0)
model = VisionTransformer(image_size=224, patch_size=16, num_layers=layers, num_heads=heads, hidden_dim=hidden,
                          mlp_dim=mlp, num_classes=1000).eval()
torch.onnx.export(model, torch.randn(1, 3, 224, 224), args.out, input_names=['pixel_values'], output_names=['logits'],
                  dynamic_axes={'pixel_values': {0: 'batch'}, 'logits': {0: 'batch'}}, opset_version=17)
print(f'{args.out}: ViT-{args.size.capitalize()}/16, {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters')
