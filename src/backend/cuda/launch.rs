//! Launch shapes (MiniTorch spec §9.1), shared by the GPU backend and the simulator.
//!
//! | kernel | grid | block |
//! |---|---|---|
//! | map, zip, axpy, gather_rows, scatter_rows | ceil(size / 32) | 32 |
//! | reduce | one block per output cell | a power of two from 32 to 1024, the smallest covering the reduced length |
//! | matmul | (ceil(rows / 32), ceil(cols / 32), batch) | (32, 32) |
//! | sum_practice | ceil(size / 32) | 32 |
//! | mm_practice | 1 | (32, 32) |

use super::args::Dim3;
use crate::error::{Error, Result};

/// Threads per block of the element-wise kernels.
pub const THREADS_PER_BLOCK: usize = 32;
/// Side of a matmul tile.
pub const TILE: usize = 32;
/// Most threads a reduce block uses.
pub const REDUCE_MAX_THREADS: usize = 1024;

/// Grid and block of an element-wise kernel over `size` outputs.
pub fn elementwise(size: usize) -> (Dim3, Dim3) {
    (
        Dim3::x(size.div_ceil(THREADS_PER_BLOCK)),
        Dim3::x(THREADS_PER_BLOCK),
    )
}

/// Grid and block of a reduction with `cells` outputs, each folding `len` values.
pub fn reduce(cells: usize, len: usize) -> (Dim3, Dim3) {
    let threads = len
        .next_power_of_two()
        .clamp(THREADS_PER_BLOCK, REDUCE_MAX_THREADS);
    (Dim3::x(cells), Dim3::x(threads))
}

/// Grid and block of the tiled matmul.
pub fn matmul(batch: usize, rows: usize, cols: usize) -> (Dim3, Dim3) {
    let grid = Dim3 {
        x: rows.div_ceil(TILE) as u32,
        y: cols.div_ceil(TILE) as u32,
        z: batch as u32,
    };
    (
        grid,
        Dim3 {
            x: TILE as u32,
            y: TILE as u32,
            z: 1,
        },
    )
}

/// Checks `mm_practice`'s operands: two packed `size × size` matrices with `0 < size ≤ 32`.
pub fn check_mm_practice(a: &[f64], b: &[f64], size: usize) -> Result<()> {
    if size == 0 || size > TILE || a.len() != size * size || b.len() != size * size {
        return Err(Error::Invalid {
            what: "mm_practice",
            message: format!(
                "needs two {size}×{size} matrices with size ≤ 32, got {} and {} values",
                a.len(),
                b.len()
            ),
        });
    }
    Ok(())
}
