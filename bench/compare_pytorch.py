#!/usr/bin/env python3
"""Runs clgan-bench and the same configurations in PyTorch on the CPU; prints clgan/PyTorch ratios.

Usage: python3 bench/compare_pytorch.py --build build [--suites ops,cyclegan,style] [--small]
           [--device SELECTOR] [--warmup N] [--repeat N] [--threads N] [--markdown] [--json FILE]

clgan-bench writes one JSON object per measurement, with "params" describing the work; each
one is rebuilt here with torch (the reference ResNet generator and PatchGAN, VGG-19 written
out by hand, torch.nn.functional for single ops) and timed with the same warm-up and repeat
counts. A ratio above 1 means clgan took longer than PyTorch. Needs python3-torch; without it
the script says so and exits with status 0. It is not part of the test suite.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

SUITES = ("gemm", "ops", "cyclegan", "style")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build", default="build", help="the CMake build folder holding clgan-bench")
    p.add_argument("--suites", default="ops,cyclegan,style",
                   help="comma-separated, from gemm, ops, cyclegan, style, or all")
    p.add_argument("--small", action="store_true", help="clgan-bench --small sizes")
    p.add_argument("--device", help="clgan-bench --device selector")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="torch threads (default: every core)")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument("--json", help="also write the paired results to this file")
    args = p.parse_args()
    args.suites = SUITES if args.suites == "all" else tuple(args.suites.split(","))
    unknown = [s for s in args.suites if s not in SUITES]
    if unknown:
        p.error("unknown suite(s): " + ", ".join(unknown))
    return args


# ---- clgan ----

def run_clgan(args):
    """Runs clgan-bench once per suite into a temporary JSON file and returns its records."""
    exe = os.path.join(args.build, "clgan-bench")
    if not os.access(exe, os.X_OK):
        sys.exit(f"compare_pytorch.py: {exe} not found; build clgan first (--build FOLDER)")
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for suite in args.suites:
            out = os.path.join(tmp, suite + ".json")
            cmd = [exe, suite, "--json", out, "--warmup", str(args.warmup),
                   "--repeat", str(args.repeat)]
            cmd += ["--small"] if args.small else []
            cmd += ["--device", args.device] if args.device else []
            print("running:", " ".join(cmd), flush=True)
            done = subprocess.run(cmd, stdout=subprocess.DEVNULL)
            if done.returncode != 0:
                print(f"compare_pytorch.py: clgan-bench {suite} failed "
                      f"(status {done.returncode}); comparing what it measured", file=sys.stderr)
            if os.path.exists(out):
                with open(out) as f:
                    records += json.load(f)
    return records


# ---- PyTorch ----

def time_ms(fn, warmup, repeat):
    """Median, min and max milliseconds of repeat calls after warmup calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), min(times), max(times)


def build_torch(torch):
    """The networks and single-op runners, made once torch is imported."""
    nn = torch.nn
    F = torch.nn.functional

    class ResnetBlock(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.conv_block = nn.Sequential(
                nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim),
                nn.ReLU(True), nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3),
                nn.InstanceNorm2d(dim))

        def forward(self, x):
            return x + self.conv_block(x)

    def generator(ngf, blocks):
        """The reference ResnetGenerator with instance norm and no dropout."""
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), nn.InstanceNorm2d(ngf),
                  nn.ReLU(True)]
        for i in range(2):
            m = 2 ** i
            layers += [nn.Conv2d(ngf * m, ngf * m * 2, 3, 2, 1), nn.InstanceNorm2d(ngf * m * 2),
                       nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4) for _ in range(blocks)]
        for i in range(2):
            m = 2 ** (2 - i)
            layers += [nn.ConvTranspose2d(ngf * m, ngf * m // 2, 3, 2, 1, 1),
                       nn.InstanceNorm2d(ngf * m // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
        return nn.Sequential(*layers)

    def discriminator(ndf):
        """The reference 70x70 PatchGAN (n_layers 3) with instance norm."""
        layers = [nn.Conv2d(3, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, 4):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < 3 else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1),
                       nn.InstanceNorm2d(ndf * mult), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
        return nn.Sequential(*layers)

    def init_normal(net):
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)
        return net

    def cyclegan_train(p):
        """One optimize_parameters() of the reference, losses read back as the trainer does."""
        s, ngf, ndf, blocks = p["size"], p["ngf"], p["ndf"], p["blocks"]
        g_a, g_b = init_normal(generator(ngf, blocks)), init_normal(generator(ngf, blocks))
        d_a, d_b = init_normal(discriminator(ndf)), init_normal(discriminator(ndf))
        opt_g = torch.optim.Adam(list(g_a.parameters()) + list(g_b.parameters()), 2e-4,
                                 betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(list(d_a.parameters()) + list(d_b.parameters()), 2e-4,
                                 betas=(0.5, 0.999))
        real_a = torch.rand(1, 3, s, s) * 2 - 1
        real_b = torch.rand(1, 3, s, s) * 2 - 1

        def set_grad(nets, on):
            for net in nets:
                for q in net.parameters():
                    q.requires_grad_(on)

        def d_loss(d, real, fake):
            pred_real, pred_fake = d(real), d(fake.detach())
            return (F.mse_loss(pred_real, torch.ones_like(pred_real)) +
                    F.mse_loss(pred_fake, torch.zeros_like(pred_fake))) * 0.5

        def step():
            fake_b, fake_a = g_a(real_a), g_b(real_b)
            rec_a, rec_b = g_b(fake_b), g_a(fake_a)
            set_grad((d_a, d_b), False)
            opt_g.zero_grad()
            pred_a, pred_b = d_a(fake_b), d_b(fake_a)
            losses = [F.mse_loss(pred_a, torch.ones_like(pred_a)),
                      F.mse_loss(pred_b, torch.ones_like(pred_b)),
                      F.l1_loss(rec_a, real_a) * 10, F.l1_loss(rec_b, real_b) * 10,
                      F.l1_loss(g_a(real_b), real_b) * 5, F.l1_loss(g_b(real_a), real_a) * 5]
            sum(losses).backward()
            opt_g.step()
            set_grad((d_a, d_b), True)
            opt_d.zero_grad()
            loss_d = [d_loss(d_a, real_b, fake_b), d_loss(d_b, real_a, fake_a)]
            for loss in loss_d:
                loss.backward()
            opt_d.step()
            return [x.item() for x in losses + loss_d]

        return step

    def cyclegan_translate(p):
        """A generator in evaluation mode on one host image in [0, 1], back to the host."""
        g = init_normal(generator(p["ngf"], p["blocks"])).eval()
        image = torch.rand(3, p["size"], p["size"]).numpy()

        def run():
            with torch.no_grad():
                y = g(torch.from_numpy(image).unsqueeze(0) * 2 - 1)
                return ((y[0] + 1) * 0.5).numpy()

        return run

    vgg_cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
               512]

    def vgg_to_relu5_1():
        """torchvision's vgg19().features up to relu5_1 (index 29), Kaiming weights, frozen."""
        layers, cin = [], 3
        for v in vgg_cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            conv = nn.Conv2d(cin, v, 3, padding=1)
            nn.init.kaiming_normal_(conv.weight)
            nn.init.zeros_(conv.bias)
            layers += [conv, nn.ReLU(True)]
            cin = v
        net = nn.Sequential(*layers)
        for q in net.parameters():
            q.requires_grad_(False)
        return net

    # relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 and relu4_2 in torchvision's numbering.
    style_taps, content_tap = (1, 6, 11, 20, 29), 22
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def features(vgg, x):
        out, h = {}, (x - mean) / std
        for i, layer in enumerate(vgg):
            h = layer(h)
            if i in style_taps or i == content_tap:
                out[i] = h
        return out

    def gram(f):
        n, c, h, w = f.shape
        flat = f.reshape(n, c, h * w)
        return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)

    def style_step(p):
        """An Adam step of style transfer: the losses of clgan/style.h, backward, update."""
        s = p["size"]
        vgg = vgg_to_relu5_1()
        with torch.no_grad():
            f = features(vgg, torch.rand(1, 3, s, s))
            targets = {i: gram(f[i]) for i in style_taps}
            content = features(vgg, torch.rand(1, 3, s, s))[content_tap]
        x = torch.rand(1, 3, s, s, requires_grad=True)
        opt = torch.optim.Adam([x], 0.02, betas=(0.99, 0.999))

        def step():
            f = features(vgg, x)
            loss = F.mse_loss(f[content_tap], content)
            for i in style_taps:
                loss = loss + 1e5 * F.mse_loss(gram(f[i]), targets[i])
            tv = ((x[:, :, 1:] - x[:, :, :-1]) ** 2).sum() + \
                 ((x[:, :, :, 1:] - x[:, :, :, :-1]) ** 2).sum()
            loss = loss + 1e-4 * tv
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss.item()

        return step

    def gemm(p):
        m, n, k = p["m"], p["n"], p["k"]
        a = torch.rand(k, m).t() if p["trans_a"] else torch.rand(m, k)
        b = torch.rand(n, k).t() if p["trans_b"] else torch.rand(k, n)
        c = torch.empty(m, n)
        return lambda: torch.mm(a, b, out=c)

    def op_forward(p, x, extra):
        """The op's output from x, with its weights or target in extra."""
        kind = p["op"]
        if kind == "conv2d":
            w, b = extra
            if p["pad_mode"] == "reflect":
                return F.conv2d(F.pad(x, (p["padding"],) * 4, mode="reflect"), w, b, p["stride"])
            return F.conv2d(x, w, b, p["stride"], p["padding"])
        if kind == "conv_transpose2d":
            w, b = extra
            return F.conv_transpose2d(x, w, b, p["stride"], p["padding"], p["output_padding"])
        simple = {"instance_norm": lambda: F.instance_norm(x, eps=1e-5),
                  "relu": lambda: F.relu(x), "tanh": lambda: torch.tanh(x),
                  "sigmoid": lambda: torch.sigmoid(x),
                  "leaky_relu": lambda: F.leaky_relu(x, p.get("slope", 0.2)),
                  "mse_loss": lambda: F.mse_loss(x, extra[0]),
                  "l1_loss": lambda: F.l1_loss(x, extra[0]),
                  "gram": lambda: gram(x), "max_pool2d": lambda: F.max_pool2d(x, 2)}
        return simple[kind]()

    def op_inputs(p):
        """x and the op's other tensors, all requiring gradients (as clgan computes them)."""
        x = torch.rand(*p["x"]) * 0.2 - 0.1
        cin, kind = p["x"][1], p["op"]
        x.requires_grad_(True)
        if kind in ("conv2d", "conv_transpose2d"):
            shape = (p["cout"], cin) if kind == "conv2d" else (cin, p["cout"])
            weight = torch.rand(*shape, p["kernel"], p["kernel"]) * 0.2 - 0.1
            bias = torch.rand(p["cout"]) * 0.2 - 0.1
            return x, [weight.requires_grad_(True), bias.requires_grad_(True)]
        if kind in ("mse_loss", "l1_loss"):
            return x, [torch.rand(*p["x"])]
        return x, []

    def adam(p):
        param = torch.rand(*p["x"], requires_grad=True)
        param.grad = torch.rand(*p["x"]) * 0.2 - 0.1
        opt = torch.optim.Adam([param], 2e-4, betas=(0.5, 0.999))
        return opt.step

    def op(p):
        if p["op"] == "adam":
            return adam(p)
        x, extra = op_inputs(p)
        if p["dir"] == "fwd":
            def fwd():
                with torch.no_grad():
                    return op_forward(p, x, extra)
            return fwd
        y = op_forward(p, x, extra)
        dy = torch.rand_like(y) * 0.2 - 0.1
        wrt = [x] + [t for t in extra if t.requires_grad]
        return lambda: torch.autograd.grad(y, wrt, dy, retain_graph=True)

    def cyclegan(p):
        return cyclegan_train(p) if p["phase"] == "train" else cyclegan_translate(p)

    return {"gemm": gemm, "ops": op, "cyclegan": cyclegan, "style": style_step}


# ---- Output ----

def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def print_table(rows, markdown):
    head = ("suite", "name", "shapes", "clgan ms", "PyTorch ms", "clgan/PyTorch")
    cells = [(r["suite"], r["name"], r["shapes"], f"{r['clgan_ms']:.3f}", f"{r['torch_ms']:.3f}",
              f"{r['ratio']:.2f}") for r in rows]
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for c in cells:
            print("| " + " | ".join(c) + " |")
        return
    widths = [max(len(x) for x in col) for col in zip(head, *cells)]
    for c in [head] + cells:
        print("  ".join(x.ljust(w) if i < 3 else x.rjust(w)
                        for i, (x, w) in enumerate(zip(c, widths))))


def print_summary(rows):
    print("\ngeometric mean of clgan/PyTorch per suite (above 1: clgan is slower):")
    for suite in SUITES:
        ratios = [r["ratio"] for r in rows if r["suite"] == suite]
        if ratios:
            print(f"  {suite:9s} {geomean(ratios):7.2f}  over {len(ratios)} measurements")


def main():
    args = parse_args()
    # OpenMP's default busy-waiting stalls for whole scheduler slices (about 12 ms a parallel
    # region) as soon as another process wants the cores; passive waiting keeps a shared
    # machine's timings sane. Set OMP_WAIT_POLICY=active yourself on an idle machine.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import torch
    except ImportError:
        print("compare_pytorch.py: PyTorch is not installed for this python3 "
              f"({sys.executable}); install python3-torch (Debian) and run it with "
              "/usr/bin/python3. Nothing was compared.")
        return 0

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    records = run_clgan(args)
    if not records:
        sys.exit("compare_pytorch.py: clgan-bench measured nothing")
    runners = build_torch(torch)
    print(f"PyTorch {torch.__version__} on the CPU, {torch.get_num_threads()} threads, "
          f"OMP_WAIT_POLICY {os.environ['OMP_WAIT_POLICY']}; "
          f"clgan on {records[0]['device']} ({records[0]['platform']} {records[0]['driver']}); "
          f"median of {args.repeat} after {args.warmup} warm-up\n", flush=True)

    rows = []
    for rec in records:
        fn = runners[rec["suite"]](rec["params"])
        median, lo, hi = time_ms(fn, args.warmup, args.repeat)
        rows.append(dict(rec, torch_ms=median, torch_min_ms=lo, torch_max_ms=hi,
                         clgan_ms=rec["median_ms"], ratio=rec["median_ms"] / median))
    print_table(rows, args.markdown)
    print_summary(rows)
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            json.dump(rows, f, indent=1)
        os.replace(args.json + ".tmp", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
