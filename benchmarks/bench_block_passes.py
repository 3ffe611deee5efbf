"""Elementwise passes over a pricing block: round 8's whole-block passes against round 9's rows at a time.

A dense pricing pass (``matching.batch.pricing``) turns each bounds product into a mask with a handful of float32
passes (``min(high + eps, colmax, ub) + beta >= level``). Round 8 ran them over the whole block and also built
every cell's lower bound (two more passes and a block-sized array); round 9 runs them a row at a time
(``bounds.CACHE_CELLS``) and computes lower bounds only for the rows that need them (``gains.Gains.low``).
Prints the median nanoseconds per cell of the bounds product, of both ways of building the mask, and of
``gains.best_bounded`` on a half-masked block (one thread, as the pricing threads run). The default block is
a pricing block at 100,000 a side: 20 UK schools x 73,000 open candidates.

    python benchmarks/bench_block_passes.py
    python benchmarks/bench_block_passes.py --rows 80 --cols 100000
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from matching.batch.gains import Gains, best_bounded
from matching.batch.potentials import Potentials
from matching.batch.pricing import _fast_mask


def median_ns_per_cell(fn: Callable[[], object], cells: int, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e9 / cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--cols", type=int, default=73_000)
    parser.add_argument("--width", type=int, default=81, help="the product's inner dimension")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows, cols = args.rows, args.cols
    q = rng.standard_normal((rows, args.width)).astype(np.float32)
    matrix = rng.standard_normal((cols, args.width)).astype(np.float32)
    product = q @ matrix.T
    # potentials of one coverage class (the usual case): UK schools 0..rows-1, schools abroad 0..cols-1
    scale = 1_000_000
    score = np.concatenate([[0, 0], rng.integers(0, 2 * scale, rows), rng.integers(-scale, 0, cols)])
    pot = Potentials(np.zeros(2 + rows + cols, np.int64), score, scale, rows, cols, np.zeros(0, np.int64), 1)
    u, cand = np.arange(rows), np.arange(cols)
    ub = rng.standard_normal(rows) + 2.0
    colmax = rng.standard_normal(cols) + 2.0
    b1, b2 = pot.abroad(cand)
    eps, margin, drop = np.float32(1e-4), 0.02, 1e-3

    def whole_block() -> np.ndarray:  # round 8's passes: every cell's lower bound, then the mask, whole block
        alpha = pot.uk(u)[1] / scale - margin
        beta = (b2 / scale).astype(np.float32)[None, :]
        high = product.copy()
        max(float(high.max()), -float(high.min()))  # its magnitude (the rounding allowance), as both do
        low = high - np.float32(drop)
        low += beta
        high += eps
        np.minimum(high, colmax.astype(np.float32)[None, :], out=high)
        np.minimum(high, ub.astype(np.float32)[:, None], out=high)
        high += beta
        return high >= alpha.astype(np.float32)[:, None]

    def by_rows() -> np.ndarray:  # the library's (``high`` is kept: the gains' base)
        return _fast_mask(pot, u, cand, product, eps, ub, colmax, b1, b2, margin, drop)[0]

    cells = rows * cols
    half = rng.random(product.shape) < 0.5
    gains = Gains(product + np.float32(0.05), product, np.float32(drop), (b2 / scale).astype(np.float32), 1e-4)
    with threadpool_limits(limits=1, user_api="blas"):
        out = {
            "rows": rows,
            "cols": cols,
            "product_ns_per_cell": median_ns_per_cell(lambda: q @ matrix.T, cells, args.repeat),
            "mask_and_lower_bounds_whole_block_ns_per_cell": median_ns_per_cell(whole_block, cells, args.repeat),
            "mask_by_rows_ns_per_cell": median_ns_per_cell(by_rows, cells, args.repeat),
            "best_bounded_half_masked_ns_per_cell": median_ns_per_cell(
                lambda: best_bounded(half.copy(), gains, 65), cells, args.repeat
            ),
            "masked_share": float(by_rows().mean()),
        }
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}, indent=2))


if __name__ == "__main__":
    main()
