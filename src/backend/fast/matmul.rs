//! Fast batched matmul: each batch is one product that reads the operands through their own
//! strides (a transposed operand is not copied). Products under 2²¹ multiply-adds (128³), and
//! batches of products under 2²² (about 160³) when there is a thread per product, use the
//! packing-free AVX-512 kernels of `small_gemm` where the CPU has them and the strides suit
//! them; the others (and other CPUs) use the `gemm` crate, which packs the operands into
//! cache-sized panels.
//!
//! Threads: a batch of products from 2²¹ multiply-adds each runs one product per thread; a
//! single product that big is split across the threads by `gemm`; smaller work stays on the
//! calling thread (waking a second one costs more than it saves, and so did a spinning helper:
//! the result rows then had to travel between the cores' caches every step).
//!
//! A bias row (a linear layer's `+ b`) is fused: the output starts from it instead of zero.

#[cfg(target_arch = "x86_64")]
use super::small_gemm;
use crate::backend::{ZipOp, matmul_shape};
use crate::error::{Error, Result};
use crate::layout::{Dims, Layout};
use crate::profile::{self, Path};
use crate::tensor_data::TensorData;
use gemm::Parallelism;
use rayon::prelude::*;

/// Multiply-adds per product from which several threads are used. Below it, thread start-up
/// costs more than it saves (the training sizes, e.g. 10×100 @ 100×100, stay on one thread).
/// gemm applies its own finer threshold above this one.
const PARALLEL_MACS: usize = 1 << 21;

/// Multiply-adds per product below which the packing-free kernels of `small_gemm` are used
/// (where the CPU has them and the strides suit them). On the course's (2, 128, 128) batches,
/// one product per thread, they reach 80–92 GFLOP/s against gemm's 46–54
/// (`minitorch bench matmul --sizes 128`).
#[cfg(target_arch = "x86_64")]
const SMALL_MACS: usize = 1 << 22;

/// The output pointer, shared by calls that write disjoint cells.
#[derive(Clone, Copy)]
struct SendPtr(*mut f64);
// SAFETY: each thread writes a disjoint set of cells through the pointer (see `block`).
unsafe impl Send for SendPtr {}
// SAFETY: as above; the pointer itself is never mutated.
unsafe impl Sync for SendPtr {}
impl SendPtr {
    fn get(self) -> *mut f64 {
        self.0
    }
}

/// `(n, i, k) @ (n, k, j)` with batch-1 broadcasting, plus `bias` (broadcast into the
/// product's shape) when given.
pub(super) fn matmul(
    a: &TensorData,
    b: &TensorData,
    bias: Option<&TensorData>,
) -> Result<TensorData> {
    let [n, rows, cols] = matmul_shape(a.shape(), b.shape())?;
    let out_shape = Dims::new(&[n, rows, cols])?;
    let row = match bias {
        None => None,
        Some(bias) => match bias_row(bias, &out_shape)? {
            Some(step) => Some((bias, step)),
            // A bias that varies along the rows: the product, then a broadcast add.
            None => {
                let product = matmul(a, b, None)?;
                return super::elementwise::zip(ZipOp::Add, &product, bias);
            }
        },
    };
    let bias_guard = row.map(|(bias, _)| bias.storage().read()).transpose()?;
    let bias_row = row
        .zip(bias_guard.as_deref())
        .map(|((bias, step), values)| (&values[bias.layout().offset..], step));
    let inner = a.shape()[2];
    let (guard_a, guard_b) = (a.storage().read()?, b.storage().read()?);
    let (la, lb) = (a.layout(), b.layout());
    let batch_stride = |l: &Layout| if l.shape[0] == 1 { 0 } else { l.strides[0] };
    let (ba, bb) = (batch_stride(la), batch_stride(lb));
    let mut out: Vec<f64> = Vec::with_capacity(n * rows * cols);
    let (lhs_all, rhs_all): (&[f64], &[f64]) = (&guard_a, &guard_b);
    let threads = rayon::current_num_threads();
    let macs = rows * cols * inner;
    let per_batch = rows * cols;
    #[cfg(target_arch = "x86_64")]
    // A big product on its own is better split across the threads by gemm; a batch of them
    // goes one product per thread either way.
    let small =
        macs < SMALL_MACS && (macs < PARALLEL_MACS || n >= threads) && small_gemm::available();
    #[cfg(target_arch = "x86_64")]
    let small = small && {
        let probe =
            |data: &[f64], l: &Layout| small_gemm::Operand::new(data, l.strides[1], l.strides[2]);
        small_gemm::suits(probe(lhs_all, la), probe(rhs_all, lb))
    };
    #[cfg(not(target_arch = "x86_64"))]
    let small = false;
    if let (false, Some((values, step))) = (small, bias_row) {
        // gemm adds its product to the output (read_dst below), which starts as the bias.
        for _ in 0..n * rows {
            if step == 0 {
                out.extend(std::iter::repeat_n(values[0], cols));
            } else {
                out.extend_from_slice(&values[..cols]);
            }
        }
    }
    let dst_all = SendPtr(out.as_mut_ptr());
    // One batch's product, written into `out`.
    let block = |batch: usize, parallelism: Parallelism| {
        let lhs = &lhs_all[la.offset + batch * ba..];
        let rhs = &rhs_all[lb.offset + batch * bb..];
        // SAFETY: the layouts were validated against their storage (TensorData::from_parts and
        // the constructors), so every position `offset + i·stride_row + k·stride_col` with
        // i < rows and k < inner lies inside `lhs` (likewise `rhs` for k < inner, j < cols),
        // and the bias row holds `cols` values `step` apart. `out` has capacity for
        // n · rows · cols values; this call writes exactly the cells (batch, ·, ·) — disjoint
        // from every other call — and reads them only where they were filled with the bias
        // above (read_dst), so uninitialised memory is never read. The buffers outlive the call.
        unsafe {
            let dst = dst_all.get().add(batch * per_batch);
            #[cfg(target_arch = "x86_64")]
            if small {
                let a = small_gemm::Operand::new(lhs, la.strides[1], la.strides[2]);
                let b = small_gemm::Operand::new(rhs, lb.strides[1], lb.strides[2]);
                let start = match bias_row {
                    None => small_gemm::Start::Zero,
                    Some((values, step)) => small_gemm::Start::Row {
                        ptr: values.as_ptr(),
                        step,
                    },
                };
                let product = small_gemm::Product {
                    m: rows,
                    n: cols,
                    k: inner,
                    a,
                    b,
                    start,
                };
                return small_gemm::gemm(product, dst, cols);
            }
            gemm::gemm(
                rows,
                cols,
                inner,
                dst,
                1,
                cols as isize,
                bias_row.is_some(),
                lhs.as_ptr(),
                la.strides[2] as isize,
                la.strides[1] as isize,
                rhs.as_ptr(),
                lb.strides[2] as isize,
                lb.strides[1] as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
    };
    let parallel = macs >= PARALLEL_MACS && threads > 1;
    if parallel && n >= threads {
        // Enough big batches to go round: one thread per batch, each product serial.
        (0..n)
            .into_par_iter()
            .for_each(|b| block(b, Parallelism::None));
    } else if parallel {
        // Big products in turn, each split across the threads by gemm.
        (0..n).for_each(|b| block(b, Parallelism::Rayon(0)));
    } else {
        // Training sizes stay on one thread. Splitting each product in two column halves
        // measured slower both with rayon (hidden 200: 1.13 ms/epoch against 0.58 on one
        // thread) and with a spinning helper thread (hidden 100: 0.195 against 0.170; hidden
        // 200: 1.28 against 0.39, the gradient halves crossing between the cores' caches).
        (0..n).for_each(|b| block(b, Parallelism::None));
    }
    // SAFETY: every one of the n · rows · cols values was written by a call above.
    unsafe { out.set_len(n * per_batch) };
    profile::note(
        match (small, ba == 0 || bb == 0) {
            (true, _) => Path::SmallGemm,
            (false, true) => Path::Broadcast,
            (false, false) => Path::Gemm,
        },
        parallel,
    );
    Ok(TensorData::packed(out, out_shape))
}

/// For a bias that broadcasts into `shape` (n, rows, cols) with one value per column — the
/// same for every row and batch — the step between its columns (0 or 1); `None` for any other
/// bias. Fails when the bias does not broadcast into `shape`.
fn bias_row(bias: &TensorData, shape: &[usize]) -> Result<Option<usize>> {
    let l = bias
        .layout()
        .broadcast_to(shape)
        .map_err(|_| Error::BroadcastInto {
            op: "matmul_add",
            from: bias.shape().to_vec(),
            to: shape.to_vec(),
        })?;
    let varies = |d: usize| shape[d] > 1 && l.strides[d] != 0;
    Ok(match l.strides[2] {
        _ if varies(0) || varies(1) => None,
        _ if shape[2] == 1 => Some(0),
        s @ (0 | 1) => Some(s),
        _ => None,
    })
}
