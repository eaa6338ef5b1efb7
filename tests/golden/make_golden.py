#!/usr/bin/env python3
"""Write clgan's golden .safetensors files from PyTorch (CPU, float32).

Usage: python3 tests/golden/make_golden.py [--out DIR] [--verify-only]

Needs only torch and the standard library. See README.md beside this file
for the naming convention that the C tests read.
"""
import argparse
import array
import functools
import itertools
import json
import os
import struct
import sys
import zlib
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
S1 = (1, 3, 5, 7)
S2 = (2, 8, 33, 17)
S3 = (1, 64, 37, 53)


# ---------------------------------------------------------------- safetensors


def tensor_bytes(t):
    a = array.array("f", t.detach().to(torch.float32).contiguous().reshape(-1).tolist())
    if sys.byteorder == "big":
        a.byteswap()
    return a.tobytes()


def write_safetensors(path, tensors, metadata):
    """tensors: ordered name -> float32 tensor; metadata: str -> str."""
    header = OrderedDict()
    header["__metadata__"] = OrderedDict(metadata)
    blobs = []
    offset = 0
    for name, t in tensors.items():
        b = tensor_bytes(t)
        header[name] = OrderedDict(
            [("dtype", "F32"), ("shape", list(t.shape)), ("data_offsets", [offset, offset + len(b)])]
        )
        blobs.append(b)
        offset += len(b)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path):
    """Returns (ordered name -> tensor, metadata dict)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0, "header length not a multiple of 8"
    header = json.loads(data[8 : 8 + n].decode("utf-8"), object_pairs_hook=OrderedDict)
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = OrderedDict()
    expect = 0
    for name, info in header.items():
        assert info["dtype"] == "F32", name
        b, e = info["data_offsets"]
        assert b == expect, "tensors not in data order at " + name
        expect = e
        a = array.array("f")
        a.frombytes(data[base + b : base + e])
        if sys.byteorder == "big":
            a.byteswap()
        numel = 1
        for d in info["shape"]:
            numel *= d
        assert len(a) == numel, name
        out[name] = torch.tensor(a.tolist(), dtype=torch.float32).reshape(info["shape"])
    assert base + expect == len(data), "trailing bytes"
    return out, meta


class Golden:
    """Collects cases for one file: tensors '<case>.<tensor>', metadata '<case>' and 'cases'."""

    def __init__(self):
        self.tensors = OrderedDict()
        self.meta = OrderedDict()
        self.cases = []

    def add(self, name, t):
        assert name not in self.tensors, name
        t = t.detach().to(torch.float32).contiguous()
        if t.dim() == 0:
            t = t.reshape(1)
        self.tensors[name] = t.clone()

    def add_case(self, case, params, tensors):
        assert "." not in case and case not in self.meta, case
        for k, t in tensors.items():
            self.add(case + "." + k, t)
        params = OrderedDict(params)
        params["tensors"] = list(tensors.keys())
        self.meta[case] = json.dumps(params)
        self.cases.append(case)

    def write(self, path):
        meta = OrderedDict([("cases", json.dumps(self.cases))])
        meta.update(self.meta)
        write_safetensors(path, self.tensors, meta)


def seed_for(name):
    torch.manual_seed(zlib.crc32(name.encode("utf-8")))


def shape_str(shape):
    return "x".join(str(d) for d in shape)


# ---------------------------------------------------------------- ops


def op_case(g, case, params, inputs, fn, diff=None, loss=False):
    """inputs: ordered name -> tensor (already drawn). fn(**leaves) -> out or (out, extras).

    Stores the inputs, the output ('y' or 'loss'), 'dy' (not for losses),
    then 'd<name>' for every differentiable input, all by autograd.
    """
    diff = list(inputs.keys()) if diff is None else diff
    leaves = OrderedDict(
        (k, v.detach().clone().requires_grad_(k in diff)) for k, v in inputs.items()
    )
    res = fn(**leaves)
    extras = OrderedDict()
    if isinstance(res, tuple):
        res, extras = res
    tensors = OrderedDict((k, v.detach().clone()) for k, v in inputs.items())
    wrt = [leaves[k] for k in diff]
    if loss:
        assert res.numel() == 1
        tensors["loss"] = res
        grads = torch.autograd.grad(res, wrt)
    else:
        tensors["y"] = res
        dy = torch.randn_like(res)
        tensors["dy"] = dy
        grads = torch.autograd.grad(res, wrt, dy)
    tensors.update(extras)
    for k, gr in zip(diff, grads):
        tensors["d" + k] = gr
    p = OrderedDict([("op", params.pop("op"))])
    p["x_shape"] = list(inputs[next(iter(inputs))].shape)
    p.update(params)
    if loss:
        p["upstream"] = 1.0
    g.add_case(case, p, tensors)


def conv_cases(g):
    table = [
        # shape, cout, k, stride, pad, mode, bias
        (S1, 4, 1, 1, 0, "zeros", True),
        (S1, 4, 3, 1, 1, "zeros", True),
        (S1, 4, 3, 1, 1, "reflect", False),
        (S1, 4, 3, 2, 0, "zeros", True),
        (S1, 5, 3, 1, 2, "zeros", True),
        (S1, 8, 7, 1, 3, "reflect", True),
        (S1, 6, 4, 2, 1, "reflect", True),
        (S2, 16, 3, 2, 1, "zeros", True),
        (S2, 16, 3, 2, 1, "reflect", False),
        (S2, 16, 4, 2, 1, "zeros", True),
        (S2, 4, 4, 1, 1, "zeros", False),
        (S2, 3, 7, 1, 0, "zeros", True),
        (S2, 4, 7, 2, 3, "zeros", True),
        (S2, 8, 1, 2, 0, "zeros", False),
        ((2, 32, 8, 8), 32, 3, 1, 1, "reflect", True),
        (S3, 8, 3, 1, 1, "reflect", True),
    ]
    for shape, cout, k, s, p, mode, bias in table:
        case = "conv2d_k%d_s%d_p%d_%s_%s_%s" % (
            k, s, p, mode, "bias" if bias else "nobias", shape_str(shape))
        seed_for(case)
        cin = shape[1]
        inputs = OrderedDict()
        inputs["x"] = torch.randn(shape)
        inputs["weight"] = torch.randn(cout, cin, k, k) / (cin * k * k) ** 0.5
        if bias:
            inputs["bias"] = torch.randn(cout) * 0.5

        def fn(x, weight, bias=None, s=s, p=p, mode=mode):
            if mode == "reflect" and p > 0:
                return F.conv2d(F.pad(x, (p, p, p, p), mode="reflect"), weight, bias, s, 0)
            return F.conv2d(x, weight, bias, s, p)

        params = OrderedDict([("op", "conv2d"), ("out_channels", cout), ("kernel", k),
                              ("stride", s), ("padding", p), ("padding_mode", mode),
                              ("bias", bias)])
        op_case(g, case, params, inputs, fn)


def conv_transpose_cases(g):
    table = [
        # shape, cout, k, stride, pad, output_padding, bias
        (S2, 4, 3, 2, 1, 1, True),
        (S1, 4, 3, 2, 1, 1, False),
        ((1, 32, 8, 8), 16, 3, 2, 1, 1, True),
        (S1, 2, 4, 2, 1, 0, True),
        (S2, 4, 3, 1, 1, 0, True),
    ]
    for shape, cout, k, s, p, op, bias in table:
        case = "conv_transpose2d_k%d_s%d_p%d_op%d_%s_%s" % (
            k, s, p, op, "bias" if bias else "nobias", shape_str(shape))
        seed_for(case)
        cin = shape[1]
        inputs = OrderedDict()
        inputs["x"] = torch.randn(shape)
        inputs["weight"] = torch.randn(cin, cout, k, k) / (cin * k * k / (s * s)) ** 0.5
        if bias:
            inputs["bias"] = torch.randn(cout) * 0.5

        def fn(x, weight, bias=None, s=s, p=p, op=op):
            return F.conv_transpose2d(x, weight, bias, s, p, op)

        params = OrderedDict([("op", "conv_transpose2d"), ("out_channels", cout), ("kernel", k),
                              ("stride", s), ("padding", p), ("output_padding", op),
                              ("bias", bias), ("weight_layout", "Cin,Cout,k,k")])
        op_case(g, case, params, inputs, fn)


def pad_cases(g):
    table = [
        ("reflect", S1, [1, 1, 1, 1]),
        ("reflect", S1, [3, 3, 3, 3]),
        ("reflect", S1, [1, 2, 0, 3]),
        ("reflect", S2, [3, 3, 3, 3]),
        ("reflect", S2, [1, 1, 1, 1]),
        ("zeros", S1, [1, 1, 1, 1]),
        ("zeros", S1, [3, 3, 3, 3]),
        ("zeros", S2, [3, 3, 3, 3]),
    ]
    for mode, shape, pad in table:
        op = "reflection_pad2d" if mode == "reflect" else "zero_pad2d"
        case = "%s_%s_%s" % (op, "_".join(str(q) for q in pad), shape_str(shape))
        seed_for(case)
        inputs = OrderedDict([("x", torch.randn(shape))])
        fmode = "reflect" if mode == "reflect" else "constant"

        def fn(x, pad=pad, fmode=fmode):
            return F.pad(x, tuple(pad), mode=fmode)

        params = OrderedDict([("op", op), ("pad", pad), ("pad_order", "left,right,top,bottom")])
        op_case(g, case, params, inputs, fn)


def instance_norm_cases(g):
    table = [(S1, False), (S1, True), (S2, True), (S2, False), (S3, False)]
    for shape, affine in table:
        case = "instance_norm2d_%s_%s" % ("affine" if affine else "plain", shape_str(shape))
        seed_for(case)
        c = shape[1]
        inputs = OrderedDict([("x", torch.randn(shape) * 2.0 + 0.7)])
        if affine:
            inputs["weight"] = 1.0 + 0.3 * torch.randn(c)
            inputs["bias"] = 0.3 * torch.randn(c)

        def fn(x, weight=None, bias=None):
            return F.instance_norm(x, weight=weight, bias=bias, eps=1e-5)

        params = OrderedDict([("op", "instance_norm2d"), ("eps", 1e-5), ("affine", affine)])
        op_case(g, case, params, inputs, fn)

    # A constant plane: variance 0, so y = 0 there and dx = (dy - mean(dy)) / sqrt(eps).
    for affine in (False, True):
        case = "instance_norm2d_constplane_%s_2x3x4x4" % ("affine" if affine else "plain")
        seed_for(case)
        x = torch.randn(2, 3, 4, 4)
        x[0, 1] = 1.0
        x[1, 2] = 1.0
        inputs = OrderedDict([("x", x)])
        if affine:
            inputs["weight"] = 1.0 + 0.3 * torch.randn(3)
            inputs["bias"] = 0.3 * torch.randn(3)

        def fn(x, weight=None, bias=None):
            return F.instance_norm(x, weight=weight, bias=bias, eps=1e-5)

        params = OrderedDict([("op", "instance_norm2d"), ("eps", 1e-5), ("affine", affine),
                              ("constant_planes", [[0, 1], [1, 2]])])
        op_case(g, case, params, inputs, fn)


def batch_norm_cases(g):
    for shape, training in ((S2, True), (S1, True), (S2, False)):
        case = "batch_norm2d_%s_%s" % ("train" if training else "eval", shape_str(shape))
        seed_for(case)
        c = shape[1]
        inputs = OrderedDict()
        inputs["x"] = torch.randn(shape) * 1.5 - 0.4
        inputs["weight"] = 1.0 + 0.3 * torch.randn(c)
        inputs["bias"] = 0.3 * torch.randn(c)
        rm = 0.2 * torch.randn(c)
        rv = 0.5 + torch.rand(c)
        if training:
            inputs["running_mean_before"] = rm
            inputs["running_var_before"] = rv
        else:
            inputs["running_mean"] = rm
            inputs["running_var"] = rv

        def fn(x, weight, bias, training=training, **stats):
            mean = next(v for k, v in stats.items() if "mean" in k).detach().clone()
            var = next(v for k, v in stats.items() if "var" in k).detach().clone()
            y = F.batch_norm(x, mean, var, weight, bias, training=training, momentum=0.1,
                             eps=1e-5)
            if training:
                return y, OrderedDict([("running_mean_after", mean),
                                       ("running_var_after", var)])
            return y

        params = OrderedDict([("op", "batch_norm2d"), ("training", training), ("momentum", 0.1),
                              ("eps", 1e-5)])
        op_case(g, case, params, inputs, fn, diff=["x", "weight", "bias"])


def activation_cases(g):
    table = [
        ("relu", S1), ("relu", S2),
        ("leaky_relu", S1), ("leaky_relu", S2),
        ("tanh", S1), ("tanh", S2),
        ("sigmoid", S1), ("sigmoid", S2),
    ]
    fns = {
        "relu": F.relu,
        "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
    }
    for op, shape in table:
        case = "%s_%s" % (op, shape_str(shape))
        seed_for(case)
        x = torch.randn(shape) * 2.0
        flat = x.view(-1)
        flat[::11] = 0.0  # exact zeros: the derivative convention at 0
        if op in ("tanh", "sigmoid"):
            flat[1] = 100.0
            flat[2] = -100.0
            flat[3] = 20.0
            flat[4] = -20.0
        params = OrderedDict([("op", op)])
        if op == "leaky_relu":
            params["negative_slope"] = 0.2
        op_case(g, case, params, OrderedDict([("x", x)]), lambda x, f=fns[op]: f(x))


def arith_cases(g):
    for op in ("add", "sub", "mul"):
        for shape in (S1, S2):
            case = "%s_%s" % (op, shape_str(shape))
            seed_for(case)
            inputs = OrderedDict([("a", torch.randn(shape)), ("b", torch.randn(shape))])
            f = {"add": torch.add, "sub": torch.sub, "mul": torch.mul}[op]
            op_case(g, case, OrderedDict([("op", op)]), inputs, lambda a, b, f=f: f(a, b))
    for shape, alpha in ((S1, -2.5), (S2, 0.5)):
        case = "scale_%s" % shape_str(shape)
        seed_for(case)
        op_case(g, case, OrderedDict([("op", "scale"), ("alpha", alpha)]),
                OrderedDict([("x", torch.randn(shape))]), lambda x, alpha=alpha: x * alpha)
    for op in ("sum", "mean"):
        for shape in (S1, S2):
            case = "%s_%s" % (op, shape_str(shape))
            seed_for(case)
            f = torch.sum if op == "sum" else torch.mean
            op_case(g, case, OrderedDict([("op", op), ("reduce", "all")]),
                    OrderedDict([("x", torch.randn(shape))]), lambda x, f=f: f(x).reshape(1))


def tv_loss(x):
    dh = x[:, :, 1:, :] - x[:, :, :-1, :]
    dw = x[:, :, :, 1:] - x[:, :, :, :-1]
    return (dh * dh).sum() + (dw * dw).sum()


def gram(x):
    n, c, h, w = x.shape
    f = x.reshape(n, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


def loss_cases(g):
    for shape in (S1, S2):
        case = "mse_loss_tensor_%s" % shape_str(shape)
        seed_for(case)
        inputs = OrderedDict([("x", torch.randn(shape)), ("target", torch.randn(shape))])
        op_case(g, case, OrderedDict([("op", "mse_loss"), ("reduction", "mean")]), inputs,
                lambda x, target: F.mse_loss(x, target), loss=True)
    for shape, c in ((S1, 1.0), (S2, 1.0), (S1, 0.0), (S2, 0.0)):
        case = "mse_loss_const%d_%s" % (int(c), shape_str(shape))
        seed_for(case)
        op_case(g, case, OrderedDict([("op", "mse_loss_const"), ("target", c),
                                      ("reduction", "mean")]),
                OrderedDict([("x", torch.randn(shape))]),
                lambda x, c=c: F.mse_loss(x, torch.full_like(x, c)), loss=True)
    for shape in (S1, S2):
        case = "l1_loss_%s" % shape_str(shape)
        seed_for(case)
        x = torch.randn(shape)
        t = torch.randn(shape)
        t.view(-1)[::13] = x.view(-1)[::13]  # ties: PyTorch's gradient there is 0
        op_case(g, case, OrderedDict([("op", "l1_loss"), ("reduction", "mean")]),
                OrderedDict([("x", x), ("target", t)]),
                lambda x, target: F.l1_loss(x, target), loss=True)
    for shape, c in ((S1, 1.0), (S1, 0.0), (S2, 1.0), (S2, 0.0)):
        case = "bce_with_logits_const%d_%s" % (int(c), shape_str(shape))
        seed_for(case)
        x = torch.randn(shape) * 3.0
        x.view(-1)[:4] = torch.tensor([100.0, -100.0, 30.0, -30.0])
        op_case(g, case, OrderedDict([("op", "bce_with_logits_const"), ("target", c),
                                      ("reduction", "mean")]),
                OrderedDict([("x", x)]),
                lambda x, c=c: F.binary_cross_entropy_with_logits(x, torch.full_like(x, c)),
                loss=True)
    for shape in (S1, S2):
        case = "tv_loss_%s" % shape_str(shape)
        seed_for(case)
        op_case(g, case, OrderedDict([("op", "tv_loss"), ("reduction", "sum")]),
                OrderedDict([("x", torch.randn(shape))]), tv_loss, loss=True)


def gram_cases(g):
    case = "gram_check_1x2x2x2"
    seed_for(case)
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, 1.0]]]])
    op_case(g, case, OrderedDict([("op", "gram"), ("expect_y", [[[30 / 8, 6 / 8], [6 / 8, 2 / 8]]])]),
            OrderedDict([("x", x)]), gram)
    for shape in (S1, S2):
        case = "gram_%s" % shape_str(shape)
        seed_for(case)
        op_case(g, case, OrderedDict([("op", "gram")]), OrderedDict([("x", torch.randn(shape))]),
                gram)


def pool_cases(g):
    for op in ("max_pool2d", "avg_pool2d"):
        for shape in (S1, S2, (2, 4, 8, 8)):
            case = "%s_%s" % (op, shape_str(shape))
            seed_for(case)
            f = F.max_pool2d if op == "max_pool2d" else F.avg_pool2d
            op_case(g, case, OrderedDict([("op", op), ("kernel", 2), ("stride", 2),
                                          ("ceil_mode", False)]),
                    OrderedDict([("x", torch.randn(shape))]), lambda x, f=f: f(x, 2, 2))
    # Ties after a ReLU: PyTorch gives the gradient to the first maximum in row-major order.
    case = "max_pool2d_ties_1x3x6x6"
    seed_for(case)
    x = F.relu(torch.randn(1, 3, 6, 6) - 0.8)
    x[0, 0, 0, 0:2] = 0.5
    x[0, 0, 1, 0:2] = 0.5
    op_case(g, case, OrderedDict([("op", "max_pool2d"), ("kernel", 2), ("stride", 2),
                                  ("ceil_mode", False), ("ties", "first in row-major order")]),
            OrderedDict([("x", x)]), lambda x: F.max_pool2d(x, 2, 2))


def adam_cases(g):
    table = [
        ("adam_wd0_37", [37], 0.0, 5),
        ("adam_wd001_3x5", [3, 5], 0.01, 5),
    ]
    for case, shape, wd, steps in table:
        seed_for(case)
        p0 = torch.randn(shape) * 0.1
        scales = [1.0, 1e-3, 10.0, 0.0, 0.5][:steps]
        grads = [torch.randn(shape) * s for s in scales]
        if steps > 1:
            grads[1].view(-1)[::3] = 0.0
        p = p0.clone().requires_grad_(True)
        opt = torch.optim.Adam([p], lr=2e-4, betas=(0.5, 0.999), eps=1e-8, weight_decay=wd)
        tensors = OrderedDict([("param0", p0)])
        for i, gr in enumerate(grads, 1):
            p.grad = gr.clone()
            opt.step()
            st = opt.state[p]
            tensors["step%d.grad" % i] = gr
            tensors["step%d.param" % i] = p.detach().clone()
            tensors["step%d.exp_avg" % i] = st["exp_avg"].clone()
            tensors["step%d.exp_avg_sq" % i] = st["exp_avg_sq"].clone()
        params = OrderedDict([("op", "adam"), ("lr", 2e-4), ("beta1", 0.5), ("beta2", 0.999),
                              ("eps", 1e-8), ("weight_decay", wd), ("steps", steps),
                              ("shape", shape)])
        g.add_case(case, params, tensors)


def make_ops(path):
    g = Golden()
    conv_cases(g)
    conv_transpose_cases(g)
    pad_cases(g)
    instance_norm_cases(g)
    batch_norm_cases(g)
    activation_cases(g)
    arith_cases(g)
    loss_cases(g)
    gram_cases(g)
    pool_cases(g)
    adam_cases(g)
    g.write(path)
    return g


# ---------------------------------------------------------------- networks
# Layer layout of pytorch-CycleGAN-and-pix2pix models/networks.py, rebuilt here so
# that state_dict keys match. In-place ReLUs of the reference are plain ReLUs here.


def get_norm_layer(norm):
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    raise ValueError(norm)


def uses_bias(norm_layer):
    return norm_layer.func == nn.InstanceNorm2d


class ResnetBlock(nn.Module):
    def __init__(self, dim, norm_layer, use_dropout, use_bias):
        super().__init__()
        block = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, padding=0, bias=use_bias),
                 norm_layer(dim), nn.ReLU()]
        if use_dropout:
            block += [nn.Dropout(0.5)]
        block += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, padding=0, bias=use_bias),
                  norm_layer(dim)]
        self.conv_block = nn.Sequential(*block)

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, ngf, norm_layer, use_dropout, n_blocks):
        super().__init__()
        use_bias = uses_bias(norm_layer)
        model = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, padding=0, bias=use_bias),
                 norm_layer(ngf), nn.ReLU()]
        for i in range(2):
            mult = 2 ** i
            model += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1,
                                bias=use_bias),
                      norm_layer(ngf * mult * 2), nn.ReLU()]
        for _ in range(n_blocks):
            model += [ResnetBlock(ngf * 4, norm_layer, use_dropout, use_bias)]
        for i in range(2):
            mult = 2 ** (2 - i)
            model += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1,
                                         output_padding=1, bias=use_bias),
                      norm_layer(ngf * mult // 2), nn.ReLU()]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    def __init__(self, input_nc, ndf, n_layers, norm_layer):
        super().__init__()
        use_bias = uses_bias(norm_layer)
        seq = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        nf_mult = 1
        for n in range(1, n_layers):
            prev, nf_mult = nf_mult, min(2 ** n, 8)
            seq += [nn.Conv2d(ndf * prev, ndf * nf_mult, 4, stride=2, padding=1, bias=use_bias),
                    norm_layer(ndf * nf_mult), nn.LeakyReLU(0.2)]
        prev, nf_mult = nf_mult, min(2 ** n_layers, 8)
        seq += [nn.Conv2d(ndf * prev, ndf * nf_mult, 4, stride=1, padding=1, bias=use_bias),
                norm_layer(ndf * nf_mult), nn.LeakyReLU(0.2)]
        seq += [nn.Conv2d(ndf * nf_mult, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*seq)

    def forward(self, x):
        return self.model(x)


class PixelDiscriminator(nn.Module):
    def __init__(self, input_nc, ndf, norm_layer):
        super().__init__()
        use_bias = uses_bias(norm_layer)
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, 1, stride=1, padding=0), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf, ndf * 2, 1, stride=1, padding=0, bias=use_bias),
            norm_layer(ndf * 2), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 2, 1, 1, stride=1, padding=0, bias=use_bias))

    def forward(self, x):
        return self.net(x)


def init_golden(net, seed):
    """The reference's init_weights('normal', 0.02), except biases are random too."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * 0.02)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1.0 + torch.randn(m.weight.shape, generator=gen) * 0.02)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.02)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))


def float_state(net):
    """state_dict without num_batches_tracked (int64; the golden files hold F32 only)."""
    return OrderedDict((k, v.detach().clone()) for k, v in net.state_dict().items()
                       if not k.endswith("num_batches_tracked"))


def cancelled_biases(net):
    """Biases of convolutions directly followed by InstanceNorm2d(affine=False): the norm
    subtracts them again, so their true gradient is 0 and autograd's is rounding noise."""
    keys = []
    mods = list(net.named_modules())
    for (name, m), (_, nxt) in zip(mods, mods[1:]):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m.bias is not None \
                and isinstance(nxt, nn.InstanceNorm2d):
            keys.append(name + ".bias")
    return keys


def network_case(g, case, net, arch, x_shape, train=True):
    init_golden(net, zlib.crc32(case.encode()))
    net.train(train)
    seed_for(case + ".data")
    x = torch.rand(x_shape) * 2.0 - 1.0
    before = float_state(net)
    xl = x.clone().requires_grad_(True)
    y = net(xl)
    r = torch.randn_like(y)
    names = [k for k, _ in net.named_parameters()]
    grads = torch.autograd.grad((y * r).sum(), [xl] + [p for _, p in net.named_parameters()])
    after = float_state(net)

    tensors = OrderedDict()
    for k, v in before.items():
        tensors["param." + k] = v
    tensors["x"] = x
    tensors["y"] = y
    tensors["r"] = r
    tensors["dx"] = grads[0]
    for k, gr in zip(names, grads[1:]):
        tensors["grad." + k] = gr
    buffers = [k for k in before if k not in names]
    for k in buffers:
        tensors["buffer_after." + k] = after[k]
    params = OrderedDict(arch)
    params["train"] = train
    params["x_shape"] = list(x_shape)
    params["state_keys"] = list(before.keys())
    params["param_keys"] = names
    params["buffer_keys"] = buffers
    params["cancelled_bias_keys"] = cancelled_biases(net)
    g.add_case(case, params, tensors)


VGG_LAYERS = [4, 4, "M", 8, 8, "M", 16, 16, 16, 16, "M", 32, 32, 32, 32, "M", 32, 32, 32, 32, "M"]
VGG_TAPS = OrderedDict([("relu1_1", 1), ("relu2_1", 6), ("relu3_1", 11), ("relu4_1", 20),
                        ("relu4_2", 22), ("relu5_1", 29)])
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def tiny_vgg19():
    layers = []
    cin = 3
    for v in VGG_LAYERS:
        if v == "M":
            layers += [nn.MaxPool2d(2, 2)]
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU()]
            cin = v
    net = nn.Module()
    net.features = nn.Sequential(*layers)
    return net


def vgg_taps(vgg, x):
    out = OrderedDict()
    last = max(VGG_TAPS.values())
    names = {i: n for n, i in VGG_TAPS.items()}
    for i, layer in enumerate(vgg.features):
        x = layer(x)
        if i in names:
            out[names[i]] = x
        if i == last:
            break
    return out


def vgg_cases(g):
    case = "vgg19_tiny"
    vgg = tiny_vgg19()
    gen = torch.Generator().manual_seed(zlib.crc32(case.encode()))
    with torch.no_grad():
        for m in vgg.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.05)
    seed_for(case + ".data")
    x = torch.randn(1, 3, 32, 32)
    xl = x.clone().requires_grad_(True)
    acts = vgg_taps(vgg, xl)
    rs = OrderedDict((k, torch.randn_like(a)) for k, a in acts.items())
    total = sum((acts[k] * rs[k]).sum() for k in acts)
    (dx,) = torch.autograd.grad(total, [xl])

    tensors = OrderedDict(("param." + k, v.detach().clone()) for k, v in vgg.state_dict().items())
    tensors["x"] = x
    for k, a in acts.items():
        tensors[k] = a
    for k, r in rs.items():
        tensors["r_" + k] = r
    tensors["dx"] = dx
    params = OrderedDict([("arch", "vgg19_features"), ("channels", [4, 8, 16, 32, 32]),
                          ("channel_divisor", 16), ("conv_indices", [
                              i for i, m in enumerate(vgg.features) if isinstance(m, nn.Conv2d)]),
                          ("pool_indices", [i for i, m in enumerate(vgg.features)
                                            if isinstance(m, nn.MaxPool2d)]),
                          ("taps", VGG_TAPS), ("x_shape", [1, 3, 32, 32]),
                          ("input", "fed to features[0] as is, no normalisation"),
                          ("dx_of", "sum over taps t of sum(t * r_t)"),
                          ("state_keys", list(vgg.state_dict().keys()))])
    g.add_case(case, params, tensors)
    style_case(g, vgg)


def style_case(g, vgg):
    case = "style_transfer"
    seed_for(case)
    content = torch.rand(1, 3, 32, 32)
    style = torch.rand(1, 3, 32, 32)
    image = torch.rand(1, 3, 32, 32)
    cw, sw, tw = 1.0, 1e3, 1e-3
    content_layer = "relu4_2"
    style_layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    def feats(img):
        return vgg_taps(vgg, (img - mean) / std)

    with torch.no_grad():
        target_c = feats(content)[content_layer]
        target_g = OrderedDict((k, gram(v)) for k, v in feats(style).items() if k in style_layers)
    img = image.clone().requires_grad_(True)
    f = feats(img)
    content_loss = F.mse_loss(f[content_layer], target_c)
    style_terms = OrderedDict((k, F.mse_loss(gram(f[k]), target_g[k])) for k in style_layers)
    style_loss = sum(style_terms.values())
    tvl = tv_loss(img)
    total = cw * content_loss + sw * style_loss + tw * tvl
    (d_content,) = torch.autograd.grad(content_loss, [img], retain_graph=True)
    (d_style,) = torch.autograd.grad(style_loss, [img], retain_graph=True)
    (d_tv,) = torch.autograd.grad(tvl, [img], retain_graph=True)
    (d_total,) = torch.autograd.grad(total, [img])

    tensors = OrderedDict([("content", content), ("style", style), ("image", image)])
    for k, v in target_g.items():
        tensors["style_gram_" + k] = v
    tensors["content_loss"] = content_loss
    for k, v in style_terms.items():
        tensors["style_loss_" + k] = v
    tensors["style_loss"] = style_loss
    tensors["tv_loss"] = tvl
    tensors["total_loss"] = total
    tensors["dimage_content"] = d_content
    tensors["dimage_style"] = d_style
    tensors["dimage_tv"] = d_tv
    tensors["dimage"] = d_total
    params = OrderedDict([
        ("op", "style_transfer_loss"), ("vgg_weights", "vgg19_tiny"),
        ("content_weight", cw), ("style_weight", sw), ("tv_weight", tw),
        ("content_layer", content_layer), ("style_layers", style_layers),
        ("normalise_mean", IMAGENET_MEAN), ("normalise_std", IMAGENET_STD),
        ("loss", "content_weight*mse(F_c(image),F_c(content)) + style_weight*sum_l "
                 "mse(gram(F_l(image)),gram(F_l(style))) + tv_weight*tv(image); F on "
                 "(img-mean)/std, image in 0..1; gram = F F^T/(C*H*W); tv = sum of squared "
                 "neighbour differences; mse = mean"),
        ("image_shape", [1, 3, 32, 32])])
    g.add_case(case, params, tensors)


def make_networks(path):
    g = Golden()
    inorm = get_norm_layer("instance")
    bnorm = get_norm_layer("batch")

    def gen_arch(ngf, n_blocks, norm):
        return OrderedDict([("arch", "resnet_generator"), ("input_nc", 3), ("output_nc", 3),
                            ("ngf", ngf), ("n_blocks", n_blocks), ("norm", norm),
                            ("use_dropout", False), ("padding_type", "reflect")])

    network_case(g, "resnet_g_instance", ResnetGenerator(3, 3, 8, inorm, False, 2),
                 gen_arch(8, 2, "instance"), (1, 3, 32, 32))
    network_case(g, "resnet_g_batch", ResnetGenerator(3, 3, 8, bnorm, False, 2),
                 gen_arch(8, 2, "batch"), (2, 3, 32, 32), train=True)
    network_case(g, "resnet_6blocks", ResnetGenerator(3, 3, 4, inorm, False, 6),
                 gen_arch(4, 6, "instance"), (1, 3, 36, 20))
    network_case(g, "nlayer_d", NLayerDiscriminator(3, 8, 3, inorm),
                 OrderedDict([("arch", "nlayer_discriminator"), ("input_nc", 3), ("ndf", 8),
                              ("n_layers", 3), ("norm", "instance")]), (1, 3, 64, 64))
    network_case(g, "pixel_d", PixelDiscriminator(3, 8, inorm),
                 OrderedDict([("arch", "pixel_discriminator"), ("input_nc", 3), ("ndf", 8),
                              ("norm", "instance")]), (1, 3, 16, 16))
    vgg_cases(g)
    g.write(path)
    return g


# ---------------------------------------------------------------- CycleGAN

CYCLEGAN = OrderedDict([
    ("netG", "resnet_generator"), ("ngf", 8), ("n_blocks", 2), ("netD", "nlayer_discriminator"),
    ("ndf", 8), ("n_layers_D", 3), ("norm", "instance"), ("use_dropout", False),
    ("gan_mode", "lsgan"), ("lambda_A", 10.0), ("lambda_B", 10.0), ("lambda_identity", 0.5),
    ("lr", 2e-4), ("beta1", 0.5), ("beta2", 0.999), ("eps", 1e-8), ("pool_size", 0),
    ("iterations", 3), ("image_shape", [1, 3, 32, 32]),
    ("init", "normal(0, 0.02) for conv weights AND biases (biases random on purpose)"),
])
LOSS_NAMES = ["D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"]


def cyclegan_run(dtype):
    """The reference CycleGANModel.optimize_parameters, CYCLEGAN['iterations'] times."""
    c = CYCLEGAN
    norm = get_norm_layer(c["norm"])
    nets = OrderedDict([
        ("G_A", ResnetGenerator(3, 3, c["ngf"], norm, False, c["n_blocks"])),
        ("G_B", ResnetGenerator(3, 3, c["ngf"], norm, False, c["n_blocks"])),
        ("D_A", NLayerDiscriminator(3, c["ndf"], c["n_layers_D"], norm)),
        ("D_B", NLayerDiscriminator(3, c["ndf"], c["n_layers_D"], norm)),
    ])
    for name, net in nets.items():
        init_golden(net, zlib.crc32(("cyclegan." + name).encode()))
        net.to(dtype).train()
    G_A, G_B, D_A, D_B = nets.values()
    betas = (c["beta1"], c["beta2"])
    opt_G = torch.optim.Adam(itertools.chain(G_A.parameters(), G_B.parameters()),
                             lr=c["lr"], betas=betas, eps=c["eps"])
    opt_D = torch.optim.Adam(itertools.chain(D_A.parameters(), D_B.parameters()),
                             lr=c["lr"], betas=betas, eps=c["eps"])
    lam_a, lam_b, lam_idt = c["lambda_A"], c["lambda_B"], c["lambda_identity"]

    def gan_loss(pred, is_real):
        return F.mse_loss(pred, torch.full_like(pred, 1.0 if is_real else 0.0))

    def set_requires_grad(ns, flag):
        for n in ns:
            for p in n.parameters():
                p.requires_grad = flag

    out = OrderedDict()
    for name, net in nets.items():
        for k, v in float_state(net).items():
            out[name + "." + k] = v
    for it in range(c["iterations"]):
        seed_for("cyclegan.iter%d" % it)
        real_A = (torch.rand(c["image_shape"]) * 2.0 - 1.0).to(dtype)
        real_B = (torch.rand(c["image_shape"]) * 2.0 - 1.0).to(dtype)

        # forward()
        fake_B = G_A(real_A)
        rec_A = G_B(fake_B)
        fake_A = G_B(real_B)
        rec_B = G_A(fake_A)

        # backward_G() with D frozen, then the G step
        set_requires_grad([D_A, D_B], False)
        opt_G.zero_grad()
        idt_A = G_A(real_B)
        loss_idt_A = F.l1_loss(idt_A, real_B) * lam_b * lam_idt
        idt_B = G_B(real_A)
        loss_idt_B = F.l1_loss(idt_B, real_A) * lam_a * lam_idt
        loss_G_A = gan_loss(D_A(fake_B), True)
        loss_G_B = gan_loss(D_B(fake_A), True)
        loss_cycle_A = F.l1_loss(rec_A, real_A) * lam_a
        loss_cycle_B = F.l1_loss(rec_B, real_B) * lam_b
        loss_G = loss_G_A + loss_G_B + loss_cycle_A + loss_cycle_B + loss_idt_A + loss_idt_B
        loss_G.backward()
        opt_G.step()

        # backward_D_A(), backward_D_B(), then the D step; the pool (size 0) returns the
        # fakes of forward(), made before the G step.
        set_requires_grad([D_A, D_B], True)
        opt_D.zero_grad()
        loss_D_A = (gan_loss(D_A(real_B), True) + gan_loss(D_A(fake_B.detach()), False)) * 0.5
        loss_D_A.backward()
        loss_D_B = (gan_loss(D_B(real_A), True) + gan_loss(D_B(fake_A.detach()), False)) * 0.5
        loss_D_B.backward()
        opt_D.step()

        p = "iter%d." % it
        out[p + "real_A"] = real_A
        out[p + "real_B"] = real_B
        for k, v in (("fake_B", fake_B), ("rec_A", rec_A), ("fake_A", fake_A),
                     ("rec_B", rec_B), ("idt_A", idt_A), ("idt_B", idt_B)):
            out[p + k] = v.detach()
        losses = {"D_A": loss_D_A, "G_A": loss_G_A, "cycle_A": loss_cycle_A,
                  "idt_A": loss_idt_A, "D_B": loss_D_B, "G_B": loss_G_B,
                  "cycle_B": loss_cycle_B, "idt_B": loss_idt_B}
        for k in LOSS_NAMES:
            out[p + "loss_" + k] = losses[k].detach().reshape(1)
    for name, net in nets.items():
        for k, v in float_state(net).items():
            out["final." + name + "." + k] = v
    cancelled = OrderedDict((n, cancelled_biases(net)) for n, net in nets.items())
    return out, cancelled


def make_cyclegan(path):
    out, cancelled = cyclegan_run(torch.float32)
    ref64, _ = cyclegan_run(torch.float64)
    # How far float32 rounding alone moves each stored value: a floor for C tolerances.
    report = OrderedDict()
    for k in out:
        if ".loss_" in k:
            a, b = out[k].double(), ref64[k]
            report[k] = float(((a - b).abs() / b.abs().clamp_min(1e-12)).max())
    skip = {"final.%s.%s" % (n, k) for n, ks in cancelled.items() for k in ks}
    worst_final = max(float((out[k].double() - ref64[k]).abs().max())
                      for k in out if k.startswith("final.") and k not in skip)
    worst_cancel = max(float((out[k].double() - ref64[k]).abs().max()) for k in skip)
    tensors = OrderedDict((k, v.float()) for k, v in out.items())
    meta = OrderedDict([
        ("cyclegan", json.dumps(CYCLEGAN)),
        ("loss_names", json.dumps(LOSS_NAMES)),
        ("cancelled_bias_keys", json.dumps(cancelled)),
        ("float64_check", json.dumps(OrderedDict([
            ("max_rel_loss_diff", max(report.values())),
            ("max_abs_final_weight_diff", worst_final),
            ("max_abs_final_cancelled_bias_diff", worst_cancel)]))),
    ])
    write_safetensors(path, tensors, meta)
    print("cyclegan float32 vs float64: max rel loss diff %.3g, max abs final weight diff "
          "%.3g (cancelled biases %.3g)" % (max(report.values()), worst_final, worst_cancel))


# ---------------------------------------------------------------- main


def verify(path):
    tensors, meta = read_safetensors(path)
    for v in tensors.values():
        assert torch.isfinite(v).all(), path
    if "cases" in meta:
        cases = json.loads(meta["cases"])
        for case in cases:
            params = json.loads(meta[case])
            for t in params["tensors"]:
                assert case + "." + t in tensors, (case, t)
        n = sum(len(json.loads(meta[c])["tensors"]) for c in cases)
        assert n == len(tensors), path
    size = os.path.getsize(path)
    print("%-24s %8d bytes %4d tensors" % (os.path.basename(path), size, len(tensors)))
    return tensors, meta


def check_clgan_generator(model_path, image_path, clgan_output_path):
    """Loads a generator file written by clgan into the reference network (strict key and
    shape check), translates image_path and compares with clgan's PNG of the same image."""
    from PIL import Image

    tensors, meta = read_safetensors(model_path)
    net = ResnetGenerator(int(meta["input_nc"]), int(meta["output_nc"]), int(meta["ngf"]),
                          get_norm_layer(meta["norm"]), meta["use_dropout"] == "1",
                          int(meta["n_blocks"]))
    net.load_state_dict({k: v for k, v in tensors.items()}, strict=True)
    net.eval()
    mode = "L" if int(meta["input_nc"]) == 1 else "RGB"
    x = torch.tensor(list(Image.open(image_path).convert(mode).getdata()), dtype=torch.float32)
    img = Image.open(image_path)
    x = x.reshape(img.height, img.width, -1).permute(2, 0, 1)[None] / 255.0 * 2 - 1
    with torch.no_grad():
        y = ((net(x)[0] + 1) / 2 * 255).clamp(0, 255).round()
    theirs = Image.open(clgan_output_path).convert(mode)
    want = torch.tensor(list(theirs.getdata()), dtype=torch.float32)
    diff = (y.permute(1, 2, 0).reshape(want.shape) - want).abs().max().item()
    print(f"{model_path}: loads into the reference ResnetGenerator (strict); "
          f"largest pixel difference from clgan's output: {diff:.0f}/255")
    assert diff <= 1, "clgan and PyTorch translations differ by more than rounding"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check-clgan-generator", nargs=3, metavar=("MODEL", "IMAGE", "CLGAN_PNG"),
                    help="load a clgan-written generator in PyTorch and compare one translation")
    ap.add_argument("--out", default=HERE, help="folder for the .safetensors files")
    ap.add_argument("--verify-only", action="store_true", help="only read the files back")
    args = ap.parse_args()
    if args.check_clgan_generator:
        check_clgan_generator(*args.check_clgan_generator)
        return

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)
    torch.manual_seed(0)

    files = ["ops.safetensors", "networks.safetensors", "cyclegan.safetensors"]
    if not args.verify_only:
        make_ops(os.path.join(args.out, files[0]))
        make_networks(os.path.join(args.out, files[1]))
        make_cyclegan(os.path.join(args.out, files[2]))
    for f in files:
        verify(os.path.join(args.out, f))

    # The gram check case must give [[30, 6], [6, 2]] / 8.
    t, _ = read_safetensors(os.path.join(args.out, files[0]))
    want = torch.tensor([[[30.0, 6.0], [6.0, 2.0]]]) / 8
    assert torch.equal(t["gram_check_1x2x2x2.y"], want)


if __name__ == "__main__":
    main()
