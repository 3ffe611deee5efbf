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

from matching.batch.bounds import CACHE_CELLS
from matching.batch.gains import Gains, best_bounded


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
    colmax = rng.standard_normal(cols).astype(np.float32)
    ub = rng.standard_normal(rows).astype(np.float32)
    beta = rng.random(cols).astype(np.float32)
    level = (rng.standard_normal(rows) + 1.5).astype(np.float32)
    eps = np.float32(1e-4)
    product = q @ matrix.T

    def whole_block() -> np.ndarray:
        high = product.copy()
        low = high - np.float32(0.01)  # round 8: every cell's lower bound
        low += beta[None, :]
        high += eps
        np.minimum(high, colmax[None, :], out=high)
        np.minimum(high, ub[:, None], out=high)
        high += beta[None, :]
        return high >= level[:, None]

    def by_rows() -> np.ndarray:
        high = np.empty_like(product)
        mask = np.empty(product.shape, bool)
        step = max(1, CACHE_CELLS // cols)
        for at in range(0, rows, step):
            part = slice(at, at + step)
            gain = high[part]
            np.add(product[part], eps, out=gain)
            np.minimum(gain, colmax[None, :], out=gain)
            np.minimum(gain, ub[part, None], out=gain)
            gain += beta[None, :]
            np.greater_equal(gain, level[part, None], out=mask[part])
        return mask

    if not np.array_equal(whole_block(), by_rows()):  # (the copy in whole_block stands for the block's own array)
        raise SystemExit("the two masks differ")
    cells = rows * cols
    gains = Gains(product + np.float32(0.05), product, np.float32(0.01), beta, 1e-4)
    dense_mask = rng.random(product.shape) < 0.5
    with threadpool_limits(limits=1, user_api="blas"):
        out = {
            "rows": rows,
            "cols": cols,
            "product_ns_per_cell": median_ns_per_cell(lambda: q @ matrix.T, cells, args.repeat),
            "mask_and_lower_bounds_whole_block_ns_per_cell": median_ns_per_cell(whole_block, cells, args.repeat),
            "mask_by_rows_ns_per_cell": median_ns_per_cell(by_rows, cells, args.repeat),
            "best_bounded_half_masked_ns_per_cell": median_ns_per_cell(
                lambda: best_bounded(dense_mask.copy(), gains, 65), cells, args.repeat
            ),
        }
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}, indent=2))


if __name__ == "__main__":
    main()
