//! Launch shapes (MiniTorch spec §9.1), shared by the GPU backend and the simulator.
//!
//! | kernel | grid | block |
//! |---|---|---|
//! | map, zip, axpy, gather_rows, scatter_rows | ceil(size / 32) | 32 |
//! | reduce | one block per output cell | a power of two from 32 to 1024, the smallest covering the reduced length |
//! | matmul | (ceil(rows / 32), ceil(cols / 32), batch) | (32, 32) |
//! | conv2d (one thread per output cell) | ceil(size / 32) | 32 |
//! | conv2d_block (few cells, long windows) | one block per output cell | a power of two from 256 to 1024: about 32 terms per thread while the blocks hold under 2^18 threads |
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

/// Fewest threads of a `conv2d_block_kernel` block.
pub const CONV_BLOCK_MIN_THREADS: usize = 256;
/// Most threads of a `conv2d_block_kernel` block.
pub const CONV_BLOCK_MAX_THREADS: usize = 1024;
/// Most output cells a convolution has for `conv2d_block_kernel` to take it: below this, one
/// thread per cell leaves most of a GPU idle.
pub const CONV_BLOCK_MAX_CELLS: usize = 1 << 14;
/// Threads that keep a large GPU busy (an H100 or H200 holds 132 × 2048 resident threads):
/// `conv2d_block_kernel` widens its blocks only while all its blocks together have fewer.
pub const CONV_BLOCK_FILL_THREADS: usize = 1 << 18;
/// Fewest terms per output cell (input channels × kernel height × width) for
/// `conv2d_block_kernel`: a block's worth, so each of its threads has at least one.
pub const CONV_BLOCK_MIN_TERMS: usize = CONV_BLOCK_MIN_THREADS;

/// The two kernels of `kernels/conv.cu`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvKernel {
    /// `conv2d_kernel`: one thread per output cell.
    ThreadPerCell,
    /// `conv2d_block_kernel`: one block per output cell.
    BlockPerCell,
}

impl ConvKernel {
    /// The kernel's name in `kernels/conv.cu`.
    pub fn name(self) -> &'static str {
        match self {
            ConvKernel::ThreadPerCell => "conv2d_kernel",
            ConvKernel::BlockPerCell => "conv2d_block_kernel",
        }
    }
}

/// The conv2d kernel for `size` output cells each summing `terms` products, with its grid and
/// block: a thread per cell, or a block per cell when the cells are few and their windows
/// long — a weight gradient, whose cells are the weights and whose windows span the batch and
/// the image.
pub fn conv2d(size: usize, terms: usize) -> (ConvKernel, Dim3, Dim3) {
    if size <= CONV_BLOCK_MAX_CELLS && terms >= CONV_BLOCK_MIN_TERMS {
        // About 32 terms per thread, as long as the blocks together do not yet fill the GPU:
        // the few cells of a big batch's weight gradient (36 for MNIST's first layer) get the
        // widest blocks, thousands of cells the narrowest (a wider block only adds barriers).
        let threads = (terms / 32)
            .min(CONV_BLOCK_FILL_THREADS / size.max(1))
            .next_power_of_two()
            .clamp(CONV_BLOCK_MIN_THREADS, CONV_BLOCK_MAX_THREADS);
        (ConvKernel::BlockPerCell, Dim3::x(size), Dim3::x(threads))
    } else {
        let (grid, block) = elementwise(size);
        (ConvKernel::ThreadPerCell, grid, block)
    }
}

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
