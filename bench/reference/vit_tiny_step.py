"""PyTorch eager reference for bench/train.bench.ts: one full fine-tuning step of the same ViT-Tiny/16 at 224.

torchvision's VisionTransformer with the configuration of ../shared/models/vit-tiny-patch16-224.onnx (a torchvision
export: patch 16, hidden 192, 12 layers, 3 heads, MLP 768) and a new 10-class head; the same batch, input pattern,
loss (cross-entropy, label smoothing 0.1), clipping (global norm 1) and optimizer (AdamW, lr 1e-5, wd 0.05 on weights)
as the benchmark's full fine-tuning. The weights are torchvision's random init: a step's cost does not depend on them.
Prints one JSON line: imagesPerSecond, stepMs, peakRssMB. Run by `npm run bench:train` when python3-torch and
python3-torchvision are installed (Debian; with libopenblas0-pthread, or Debian's torch multiplies with the reference
BLAS); the benchmark says why it skipped it otherwise. The JSON names the BLAS library the process loaded.
"""
import argparse
import json
import math
import os
import resource
import time

import torch
from torchvision.models.vision_transformer import VisionTransformer

parser = argparse.ArgumentParser()
parser.add_argument('--batch', type=int, default=32)
parser.add_argument('--steps', type=int, default=5)
parser.add_argument('--classes', type=int, default=10)
args = parser.parse_args()

torch.set_num_threads(os.cpu_count() or 1)
torch.manual_seed(0)
model = VisionTransformer(image_size=224, patch_size=16, num_layers=12, num_heads=3, hidden_dim=192, mlp_dim=768,
                          num_classes=args.classes)
model.train()
decay = [p for n, p in model.named_parameters() if p.ndim > 1]
no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.05}, {'params': no_decay, 'weight_decay': 0.0}], lr=1e-5)
B = args.batch
n = B * 3 * 224 * 224
x = torch.sin(torch.arange(n, dtype=torch.float32) * 0.001).reshape(B, 3, 224, 224)
y = torch.arange(B) % args.classes
loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)


def step():
    opt.zero_grad(set_to_none=True)
    loss = loss_fn(model(x), y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


step()  # warm-up
times = []
for _ in range(args.steps):
    t = time.perf_counter()
    step()
    times.append(time.perf_counter() - t)
times.sort()
median = times[len(times) // 2]


def blas_library():
    """The BLAS the process loaded (Debian's alternatives pick it: reference BLAS is many times slower than OpenBLAS)."""
    try:
        with open('/proc/self/maps') as f:
            libs = {line.split()[-1] for line in f if 'blas' in line.lower() and '/' in line}
        return ', '.join(sorted(os.path.realpath(lib) for lib in libs)) or 'none found'
    except OSError:
        return 'unknown'


print(json.dumps({
    'method': 'pytorch-eager-full',
    'batch': B,
    'imagesPerSecond': B / median,
    'stepMs': median * 1000,
    'peakRssMB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    'torch': torch.__version__,
    'threads': torch.get_num_threads(),
    'blas': blas_library(),
}))
