# Writes golden.safetensors in the official layout with PyTorch's conversions (run once, by hand).
import json
import math
import struct

import torch

values = [0.0, -0.0, 1.0, -2.5, 1.0 / 3.0, 65504.0, 70000.0, 6.0e-8, 3.0e-5, 1.0e-40,
          3.0e38, -7.25e-3, math.inf, -math.inf, math.nan, 123.456]
f32 = torch.tensor(values, dtype=torch.float32).reshape(2, 8)
f16 = f32.to(torch.float16)
bf16 = f32.to(torch.bfloat16)
tensors = {
    "a.f32": f32,
    "b.f16": f16,
    "c.bf16": bf16,
    "d.f16_as_f32": f16.to(torch.float32),
    "e.bf16_as_f32": bf16.to(torch.float32),
    "f.scalar": torch.tensor(-1.5, dtype=torch.float32),
    "g.empty": torch.zeros(3, 0, 2, dtype=torch.float32),
}
names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def raw(t):
    # Little-endian bytes, going through an integer view so bfloat16 needs no numpy support.
    width = {torch.float32: torch.int32, torch.float16: torch.int16, torch.bfloat16: torch.int16}
    return t.contiguous().view(width[t.dtype]).numpy().astype("<i%d" % t.element_size()).tobytes()


header = {"__metadata__": {"format": "pt", "made_by": "make_golden.py"}}
data = b""
for name, t in tensors.items():
    b = raw(t)
    header[name] = {"dtype": names[t.dtype], "shape": list(t.shape),
                    "data_offsets": [len(data), len(data) + len(b)]}
    data += b
text = json.dumps(header, separators=(",", ":")).encode()
text += b" " * (-len(text) % 8)
with open("golden.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data)
