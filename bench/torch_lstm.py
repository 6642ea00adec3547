#!/usr/bin/env python3
"""bench/torch_lstm.py: PyTorch CPU baseline for melodl's LSTM training step and sampling.

Times what `melodl bench` times, in PyTorch (Debian's python3-torch 1.13, CPU):
a full truncated-BPTT training step on random symbols -- one-hot input, an L-layer LSTM,
Linear + softmax cross-entropy over every step, backward, RMSProp update -- and one-stream
sampling (batch 1, one symbol at a time, draw the next symbol from the softmax).

Two implementations:
  torch-nn.LSTM   nn.LSTM (no peepholes). Input: one-hot rows gathered from an identity
                  matrix (index_select), so nn.LSTM's input GEMM sees the one-hot vectors.
  torch-peephole  a hand-written GravesLSTM (peephole LSTM, as MELODL4J), eager Python
                  loop over time steps; layer 1's input projection is a row gather of W
                  (one-hot x times W), later layers one GEMM over all T*B inputs, then per step
                      z = xW[t] + h_{t-1} R + b           gate blocks i, f, g, o
                      i = sigmoid(z_i + p_i * c_{t-1})    f = sigmoid(z_f + p_f * c_{t-1})
                      g = tanh(z_g)                       c_t = f * c_{t-1} + i * g
                      o = sigmoid(z_o + p_o * c_t)        h_t = o * tanh(c_t)
                  (PyTorch has no peephole LSTM: pytorch/pytorch issue 630.)

BLAS threads: Debian's torch calls the system BLAS (libblas.so.3; install libopenblas0-pthread,
or it falls back to the slow netlib reference BLAS). OpenBLAS's own thread pool fights
torch's OpenMP threads: with OPENBLAS_NUM_THREADS unset it is about 3x slower on 2 cores.
This script therefore sets OPENBLAS_NUM_THREADS=1 before importing torch (beside
torch.set_num_threads(--threads)) and prints the BLAS library it loaded to stderr.

Output: one JSON line per configuration on stdout (configuration details go to stderr):
  {"impl", "layers", "hidden", "batch", "tbptt", "vocab", "threads", "step_ms",
   "symbols_per_s", "sample_symbols_per_s", ...}
step_ms is the median wall time over --iters timed steps after --warmup steps; symbols_per_s
is batch * tbptt / step time; sample_symbols_per_s is one stream (batch 1) of sampling.
step_cpu_ms (median process CPU time per step, all threads), sample_symbols_per_cpu_s
(symbols per CPU second) and loadavg_1min (taken before the configuration) tell whether
other work on the machine disturbed the wall times: with --threads 1 on a quiet machine
step_cpu_ms is close to step_ms.

Example (the seed configuration, both implementations, 1 and 2 threads):
  python3 bench/torch_lstm.py --layers 2 --hidden 200 --vocab 60 --batch 32 --tbptt 50 \\
      --peepholes off,on --threads 1,2 --iters 10
Comma-separated values sweep a flag (every combination is run).
"""
import argparse
import itertools
import json
import os
import statistics
import sys
import time

_PREVIOUS_OPENBLAS_THREADS = os.environ.get("OPENBLAS_NUM_THREADS")
os.environ["OPENBLAS_NUM_THREADS"] = "1"  # must precede `import torch` (see above)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def int_list(text):
    return [int(v) for v in text.split(",") if v]


def onoff_list(text):
    out = []
    for v in text.split(","):
        if v not in ("on", "off"):
            raise argparse.ArgumentTypeError(f"--peepholes takes on, off or on,off; got '{v}'")
        out.append(v == "on")
    return out


def loaded_blas():
    """Paths of the BLAS/LAPACK libraries mapped into this process, and OpenBLAS's thread
    count as the library itself reports it (None when the BLAS is not OpenBLAS)."""
    libs = set()
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1]
                if "blas" in path or "lapack" in path:
                    libs.add(os.path.realpath(path))
    except OSError:
        pass
    threads = None
    for path in sorted(libs):
        if "blas" not in os.path.basename(path):
            continue
        try:
            import ctypes

            lib = ctypes.CDLL(path)
            if hasattr(lib, "openblas_get_num_threads"):
                threads = int(lib.openblas_get_num_threads())
        except OSError:
            pass
    return sorted(libs), threads


# ---- models -----------------------------------------------------------------------------


class TorchLstmModel(nn.Module):
    """one-hot (identity row gather) -> nn.LSTM -> Linear."""

    def __init__(self, vocab, hidden, layers):
        super().__init__()
        self.register_buffer("eye", torch.eye(vocab))
        self.lstm = nn.LSTM(vocab, hidden, num_layers=layers)
        self.out = nn.Linear(hidden, vocab)

    def initial_state(self, batch):
        z = torch.zeros(self.lstm.num_layers, batch, self.lstm.hidden_size)
        return (z, z.clone())

    def forward(self, tokens, state):  # tokens [T, B] int64
        x = self.eye.index_select(0, tokens.reshape(-1)).view(*tokens.shape, -1)
        y, state = self.lstm(x, state)
        return self.out(y.reshape(-1, y.shape[-1])), state

    def step(self, token, state):  # token [1] (batch 1), for sampling
        x = self.eye.index_select(0, token).view(1, 1, -1)
        y, state = self.lstm(x, state)
        return self.out(y.view(1, -1)), state


class PeepholeLayer(nn.Module):
    """One GravesLSTM layer; W is [input, 4H] so a one-hot input is a row gather of W."""

    def __init__(self, inputs, hidden, one_hot_input):
        super().__init__()
        k = 1.0 / hidden**0.5
        self.hidden = hidden
        self.one_hot_input = one_hot_input
        self.W = nn.Parameter(torch.empty(inputs, 4 * hidden).uniform_(-k, k))
        self.R = nn.Parameter(torch.empty(hidden, 4 * hidden).uniform_(-k, k))
        self.b = nn.Parameter(torch.zeros(4 * hidden))
        self.p = nn.Parameter(torch.empty(3, hidden).uniform_(-k, k))  # i, f, o peepholes

    def input_projection(self, x):
        """x: [T, B] int64 symbols (one-hot layer) or [T, B, I] floats -> [T, B, 4H]."""
        if self.one_hot_input:
            return self.W.index_select(0, x.reshape(-1)).view(*x.shape, -1) + self.b
        T, B, I = x.shape
        return torch.addmm(self.b, x.reshape(T * B, I), self.W).view(T, B, -1)

    def cell(self, zx, h, c, peep):
        pi, pf, po = peep
        zi, zf, zg, zo = torch.addmm(zx, h, self.R).chunk(4, dim=1)
        i = torch.sigmoid(zi + pi * c)
        f = torch.sigmoid(zf + pf * c)
        c = f * c + i * torch.tanh(zg)
        o = torch.sigmoid(zo + po * c)
        return o * torch.tanh(c), c

    def forward(self, x, h, c):
        # unbind, not zx[t]: each zx[t] would cost a full-size zero gradient in backward
        # (quadratic in T), which is not how anyone would write this loop.
        peep = self.p.unbind(0)
        ys = []
        for zx_t in self.input_projection(x).unbind(0):
            h, c = self.cell(zx_t, h, c, peep)
            ys.append(h)
        return torch.stack(ys), h, c


class PeepholeModel(nn.Module):
    """symbols -> L GravesLSTM layers (peepholes) -> Linear."""

    def __init__(self, vocab, hidden, layers):
        super().__init__()
        self.hidden = hidden
        self.layers = nn.ModuleList(
            PeepholeLayer(vocab if l == 0 else hidden, hidden, l == 0) for l in range(layers)
        )
        self.out = nn.Linear(hidden, vocab)

    def initial_state(self, batch):
        z = torch.zeros(len(self.layers), batch, self.hidden)
        return (z, z.clone())

    def forward(self, tokens, state):
        h0, c0 = state
        x, hs, cs = tokens, [], []
        for l, layer in enumerate(self.layers):
            x, h, c = layer(x, h0[l], c0[l])
            hs.append(h)
            cs.append(c)
        return self.out(x.reshape(-1, self.hidden)), (torch.stack(hs), torch.stack(cs))

    def step(self, token, state):
        h0, c0 = state
        hs, cs = [], []
        x = None
        for l, layer in enumerate(self.layers):
            zx = layer.input_projection(token.view(1, 1) if l == 0 else x.view(1, 1, -1))[0]
            h, c = layer.cell(zx, h0[l], c0[l], layer.p.unbind(0))
            hs.append(h)
            cs.append(c)
            x = h
        return self.out(x), (torch.stack(hs), torch.stack(cs))


# ---- timing -----------------------------------------------------------------------------


def time_training(model, vocab, batch, tbptt, warmup, iters, seed):
    gen = torch.Generator().manual_seed(seed)
    # A few pre-drawn segments (inputs and next-symbol targets), cycled: data generation is
    # not part of the step, as in melodl where batches come from a prepared corpus.
    segments = [torch.randint(vocab, (tbptt + 1, batch), generator=gen) for _ in range(4)]
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.95, eps=1e-8)
    state = model.initial_state(batch)
    times, cpu_times = [], []
    for it in range(warmup + iters):
        seg = segments[it % len(segments)]
        t0 = time.perf_counter()
        c0 = time.process_time()
        state = tuple(s.detach() for s in state)  # truncated BPTT: carry values, not graphs
        logits, state = model(seg[:-1], state)
        loss = F.cross_entropy(logits, seg[1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - c0
        if it >= warmup:
            times.append(elapsed)
            cpu_times.append(cpu)
        if not torch.isfinite(loss):
            raise RuntimeError(f"loss became {loss.item()}")
    return times, cpu_times, float(loss.item())


@torch.no_grad()
def time_sampling(model, symbols, seed):
    gen = torch.Generator().manual_seed(seed)
    state = model.initial_state(1)
    token = torch.zeros(1, dtype=torch.long)
    warm = max(10, symbols // 10)
    for n in range(warm + symbols):
        if n == warm:
            t0, c0 = time.perf_counter(), time.process_time()
        logits, state = model.step(token, state)
        token = torch.multinomial(F.softmax(logits, dim=-1), 1, generator=gen).view(1)
    return symbols / (time.perf_counter() - t0), symbols / (time.process_time() - c0)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--layers", type=int_list, default=[2])
    ap.add_argument("--hidden", type=int_list, default=[200])
    ap.add_argument("--vocab", type=int_list, default=[60])
    ap.add_argument("--batch", type=int_list, default=[32])
    ap.add_argument("--tbptt", type=int_list, default=[50])
    ap.add_argument("--peepholes", type=onoff_list, default=[False, True],
                    help="on, off, or on,off (default both)")
    ap.add_argument("--threads", type=int_list, default=[2])
    ap.add_argument("--iters", type=int, default=10, help="timed training steps (median)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed training steps first")
    ap.add_argument("--sample-symbols", type=int, default=300,
                    help="symbols drawn for the sampling rate (0 = skip)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.iters < 1 or args.warmup < 0:
        ap.error("--iters must be >= 1 and --warmup >= 0")

    libs, blas_threads = loaded_blas()
    print(f"# torch {torch.__version__}; OPENBLAS_NUM_THREADS=1 (was "
          f"{_PREVIOUS_OPENBLAS_THREADS or 'unset'}); BLAS libraries: {', '.join(libs) or '?'};"
          f" OpenBLAS reports {blas_threads} thread(s)", file=sys.stderr)
    if not any("openblas" in p for p in libs):
        print("# WARNING: torch is not using OpenBLAS (reference BLAS is very slow); "
              "apt-get install libopenblas0-pthread", file=sys.stderr)
    if blas_threads not in (None, 1):
        print(f"# WARNING: OpenBLAS uses {blas_threads} threads, not 1", file=sys.stderr)
    print("# " + torch.__config__.parallel_info().strip().replace("\n", "\n# "), file=sys.stderr)

    torch.manual_seed(args.seed)
    for layers, hidden, vocab, batch, tbptt, peep, threads in itertools.product(
        args.layers, args.hidden, args.vocab, args.batch, args.tbptt, args.peepholes, args.threads
    ):
        torch.set_num_threads(threads)
        torch.manual_seed(args.seed)
        model = PeepholeModel(vocab, hidden, layers) if peep else TorchLstmModel(vocab, hidden, layers)
        load = os.getloadavg()[0]
        times, cpu_times, loss = time_training(model, vocab, batch, tbptt, args.warmup, args.iters, args.seed)
        step_s = statistics.median(times)
        sample, sample_cpu = (time_sampling(model, args.sample_symbols, args.seed)
                              if args.sample_symbols else (None, None))
        print(json.dumps({
            "impl": "torch-peephole" if peep else "torch-nn.LSTM",
            "layers": layers, "hidden": hidden, "batch": batch, "tbptt": tbptt, "vocab": vocab,
            "threads": threads,
            "step_ms": round(step_s * 1e3, 3),
            "symbols_per_s": round(batch * tbptt / step_s, 1),
            "sample_symbols_per_s": round(sample, 1) if sample else None,
            "sample_symbols_per_cpu_s": round(sample_cpu, 1) if sample_cpu else None,
            "step_ms_min": round(min(times) * 1e3, 3),
            "step_cpu_ms": round(statistics.median(cpu_times) * 1e3, 3),
            "loadavg_1min": round(load, 2),
            "iters": args.iters, "warmup": args.warmup, "loss": round(loss, 4),
            "params": sum(p.numel() for p in model.parameters()),
            "torch": torch.__version__, "openblas_threads": blas_threads,
        }), flush=True)


if __name__ == "__main__":
    main()
