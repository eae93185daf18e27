//! The `cuda-sim` backend: the CUDA kernels of `kernels/`, compiled for the CPU with the
//! compatibility header of `sim/` (see `sim/cuda_sim.h`), launched with the same grid and block
//! shapes as on a GPU.
//!
//! Like Numba's CUDA simulator in the course, it lets a learner run and debug kernels without a
//! GPU, and lets CI run the whole tensor-general suite on the kernel code. Every buffer a kernel
//! sees is a copy surrounded by guard cells holding a NaN pattern: a write out of bounds is
//! reported as an error naming the kernel, and a read out of bounds yields NaN. A barrier that
//! not every thread of a block reaches is reported too.

use super::args::{
    AxpyArgs, ConvArgs, Dim3, KLayout, MapArgs, MatmulArgs, PracticeArgs, ReduceArgs, RowsArgs,
    ZipArgs, check_kernel_sizes, scatter_lists,
};
use super::launch;
use crate::backend::simple::{check_gather, check_scatter};
use crate::backend::{
    MapOp, ReduceOp, TensorOps, ZipOp, check_same_shape, conv2d_shape, matmul_shape, reduce_shape,
    with_batch,
};
use crate::error::{Error, Result};
use crate::layout::{Dims, broadcast_target, shape_broadcast_for};
use crate::tensor_data::TensorData;

unsafe extern "C" {
    fn sim_map_kernel(args: *const MapArgs, grid: Dim3, block: Dim3) -> i32;
    fn sim_zip_kernel(args: *const ZipArgs, grid: Dim3, block: Dim3) -> i32;
    fn sim_axpy_kernel(args: *const AxpyArgs, grid: Dim3, block: Dim3) -> i32;
    fn sim_reduce_kernel(args: *const ReduceArgs, grid: Dim3, block: Dim3) -> i32;
    fn sim_matmul_kernel(args: *const MatmulArgs, grid: Dim3, block: Dim3) -> i32;
    fn sim_conv2d_kernel(args: *const ConvArgs, grid: Dim3, block: Dim3) -> i32;
    fn sim_conv2d_block_kernel(args: *const ConvArgs, grid: Dim3, block: Dim3) -> i32;
    fn sim_gather_rows_kernel(args: *const RowsArgs, grid: Dim3, block: Dim3) -> i32;
    fn sim_scatter_rows_kernel(args: *const RowsArgs, grid: Dim3, block: Dim3) -> i32;
    fn sim_sum_practice(args: *const PracticeArgs, grid: Dim3, block: Dim3) -> i32;
    fn sim_mm_practice(args: *const PracticeArgs, grid: Dim3, block: Dim3) -> i32;
    fn sim_planted_matmul_missing_barrier(args: *const MatmulArgs, grid: Dim3, block: Dim3) -> i32;
    fn sim_planted_map_out_of_bounds(args: *const MapArgs, grid: Dim3, block: Dim3) -> i32;
    fn sim_planted_divergent_barrier(args: *const PracticeArgs, grid: Dim3, block: Dim3) -> i32;
}

/// Guard cells on each side of a simulated device buffer.
const GUARD: usize = 64;
/// The guard pattern: a NaN no computation produces.
const CANARY: u64 = 0x7FF4_DEAD_BEEF_0001;

/// A simulated device buffer: the values between two runs of guard cells.
struct DeviceBuf(Vec<f64>);

impl DeviceBuf {
    /// A buffer of `len` zeros for an output of `shape` (an error, not an abort, when the
    /// machine cannot hold it).
    fn zeroed(op: &'static str, len: usize, shape: &[usize]) -> Result<DeviceBuf> {
        let canary = f64::from_bits(CANARY);
        let total = len.saturating_add(2 * GUARD);
        let mut buf = crate::tensor_data::filled(op, total, canary, shape)?;
        buf[GUARD..GUARD + len].fill(0.0);
        Ok(DeviceBuf(buf))
    }

    fn from_slice(values: &[f64]) -> DeviceBuf {
        let canary = f64::from_bits(CANARY);
        let mut buf = vec![canary; GUARD];
        buf.extend_from_slice(values);
        buf.extend(std::iter::repeat_n(canary, GUARD));
        DeviceBuf(buf)
    }

    fn ptr(&mut self) -> *mut f64 {
        self.0[GUARD..].as_mut_ptr()
    }

    fn values(&self) -> &[f64] {
        &self.0[GUARD..self.0.len() - GUARD]
    }

    fn intact(&self) -> bool {
        let n = self.0.len();
        self.0[..GUARD]
            .iter()
            .chain(&self.0[n - GUARD..])
            .all(|v| v.to_bits() == CANARY)
    }
}

/// Interprets a launch's status and checks every buffer's guards.
fn finish(kernel: &'static str, status: i32, buffers: &[&DeviceBuf]) -> Result<()> {
    let fail = |message: &str| {
        Err(Error::Kernel {
            kernel,
            message: message.to_string(),
        })
    };
    match status {
        0 => {}
        1 => return fail("a __syncthreads() barrier was not reached by every thread of a block"),
        2 => return fail("threads of one block wait at different __syncthreads() barriers"),
        other => return fail(&format!("simulator status {other}")),
    }
    if buffers.iter().any(|b| !b.intact()) {
        return fail("wrote outside a buffer (an out-of-bounds index)");
    }
    Ok(())
}

/// A tensor's whole storage copied to the simulated device.
fn upload(t: &TensorData) -> Result<DeviceBuf> {
    Ok(DeviceBuf::from_slice(&t.storage().read()?))
}

/// The simulator's kernels.
pub struct CudaSimOps;

impl TensorOps for CudaSimOps {
    fn map(&self, op: MapOp, a: &TensorData, out_shape: &[usize]) -> Result<TensorData> {
        check_kernel_sizes("map", &[a])?;
        let out_shape = broadcast_target("map", a.shape(), out_shape)?;
        let size = out_shape.product();
        let mut input = upload(a)?;
        let mut out = DeviceBuf::zeroed("map", size, &out_shape)?;
        let args = MapArgs::new(op, a, out_shape, [out.ptr(), input.ptr()]);
        let (grid, block) = launch::elementwise(size);
        // SAFETY: the pointers address live buffers sized for the layouts (the output holds
        // `size` values; the input is the whole storage the layout was validated against).
        let status = unsafe { sim_map_kernel(&args, grid, block) };
        finish("map_kernel", status, &[&out, &input])?;
        Ok(TensorData::packed(out.values().to_vec(), out_shape))
    }

    fn zip(&self, op: ZipOp, a: &TensorData, b: &TensorData) -> Result<TensorData> {
        check_kernel_sizes(op.name(), &[a, b])?;
        let out_shape = shape_broadcast_for(op.name(), a.shape(), b.shape())?;
        let size = out_shape.product();
        let (mut da, mut db) = (upload(a)?, upload(b)?);
        let mut out = DeviceBuf::zeroed(op.name(), size, &out_shape)?;
        let args = ZipArgs::new(op, [a, b], out_shape, [out.ptr(), da.ptr(), db.ptr()]);
        let (grid, block) = launch::elementwise(size);
        // SAFETY: as in `map`.
        let status = unsafe { sim_zip_kernel(&args, grid, block) };
        finish("zip_kernel", status, &[&out, &da, &db])?;
        Ok(TensorData::packed(out.values().to_vec(), out_shape))
    }

    fn reduce(&self, op: ReduceOp, a: &TensorData, dim: usize) -> Result<TensorData> {
        check_kernel_sizes("reduce", &[a])?;
        let out_shape = reduce_shape(a.shape(), dim)?;
        let cells = out_shape.product();
        let mut input = upload(a)?;
        let mut out = DeviceBuf::zeroed("reduce", cells, &out_shape)?;
        let args = ReduceArgs::new(op, a, dim, out_shape, [out.ptr(), input.ptr()]);
        let (grid, block) = launch::reduce(cells, a.shape()[dim]);
        // SAFETY: as in `map`.
        let status = unsafe { sim_reduce_kernel(&args, grid, block) };
        finish("reduce_kernel", status, &[&out, &input])?;
        Ok(TensorData::packed(out.values().to_vec(), out_shape))
    }

    fn matmul(&self, a: &TensorData, b: &TensorData) -> Result<TensorData> {
        check_kernel_sizes("matmul", &[a, b])?;
        with_batch(a, b, |a, b| {
            let [n, rows, cols] = matmul_shape(a.shape(), b.shape())?;
            let out = run_matmul("matmul_kernel", sim_matmul_kernel, a, b)?;
            Ok(TensorData::packed(out, Dims::new(&[n, rows, cols])?))
        })
    }

    fn conv2d(
        &self,
        input: &TensorData,
        weight: &TensorData,
        out_hw: [usize; 2],
        reverse: bool,
    ) -> Result<TensorData> {
        check_kernel_sizes("conv2d", &[input, weight])?;
        let out_shape = conv2d_shape(input.shape(), weight.shape(), out_hw)?;
        let size = out_shape.product();
        let (mut di, mut dw) = (upload(input)?, upload(weight)?);
        let mut out = DeviceBuf::zeroed("conv2d", size, &out_shape)?;
        let args = ConvArgs::new(
            [input, weight],
            out_shape,
            reverse,
            [out.ptr(), di.ptr(), dw.ptr()],
        );
        let terms = weight.shape()[1..].iter().product();
        let (kernel, grid, block) = launch::conv2d(size, terms);
        let launcher = match kernel {
            launch::ConvKernel::ThreadPerCell => sim_conv2d_kernel,
            launch::ConvKernel::BlockPerCell => sim_conv2d_block_kernel,
        };
        // SAFETY: as in `map`: the output holds `size` values, the operands are whole storages
        // their (validated) layouts index into; either kernel writes each output cell once.
        let status = unsafe { launcher(&args, grid, block) };
        finish(kernel.name(), status, &[&out, &di, &dw])?;
        Ok(TensorData::packed(out.values().to_vec(), out_shape))
    }

    fn add_scaled_(&self, y: &TensorData, alpha: f64, x: &TensorData) -> Result<()> {
        check_same_shape("add_scaled_", y, x)?;
        let (mut dy, mut dx) = (upload(y)?, upload(x)?);
        let args = AxpyArgs::new(y, alpha, x, [dy.ptr(), dx.ptr()]);
        let (grid, block) = launch::elementwise(y.size());
        // SAFETY: as in `map`.
        let status = unsafe { sim_axpy_kernel(&args, grid, block) };
        finish("axpy_kernel", status, &[&dy, &dx])?;
        y.storage().host_mut()?.copy_from_slice(dy.values());
        Ok(())
    }

    fn gather_rows(&self, table: &TensorData, ids: &[u32]) -> Result<TensorData> {
        check_kernel_sizes("gather_rows", &[table])?;
        let dim = check_gather("gather_rows", table, ids)?;
        let size = ids.len() * dim;
        let ids: Vec<f64> = ids.iter().map(|&id| f64::from(id)).collect();
        let (mut input, mut ids_buf) = (upload(table)?, DeviceBuf::from_slice(&ids));
        let mut out = DeviceBuf::zeroed("gather_rows", size, &[ids.len(), dim])?;
        let pointers = [out.ptr(), input.ptr(), ids_buf.ptr(), std::ptr::null_mut()];
        let args = RowsArgs::new(table, size, pointers);
        let (grid, block) = launch::elementwise(size);
        // SAFETY: the output holds `size` values, the table is its whole storage (validated
        // layout), and every id (checked below the table's rows) has its buffer cell.
        let status = unsafe { sim_gather_rows_kernel(&args, grid, block) };
        finish("gather_rows_kernel", status, &[&out, &input, &ids_buf])?;
        TensorData::new(out.values().to_vec(), &[ids.len(), dim])
    }

    fn scatter_add_rows(&self, grad: &TensorData, ids: &[u32], rows: usize) -> Result<TensorData> {
        check_kernel_sizes("scatter_add_rows", &[grad])?;
        let dim = check_scatter(grad, ids, rows)?;
        let size = rows * dim;
        let (positions, offsets) = scatter_lists(ids, rows);
        let mut input = upload(grad)?;
        let (mut pos_buf, mut off_buf) = (
            DeviceBuf::from_slice(&positions),
            DeviceBuf::from_slice(&offsets),
        );
        let mut out = DeviceBuf::zeroed("scatter_add_rows", size, &[rows, dim])?;
        let pointers = [out.ptr(), input.ptr(), pos_buf.ptr(), off_buf.ptr()];
        let args = RowsArgs::new(grad, size, pointers);
        let (grid, block) = launch::elementwise(size);
        // SAFETY: the output holds `size` values, the gradient is its whole storage, the
        // offsets hold `rows + 1` values and the positions one per gradient row.
        let status = unsafe { sim_scatter_rows_kernel(&args, grid, block) };
        finish(
            "scatter_rows_kernel",
            status,
            &[&out, &input, &pos_buf, &off_buf],
        )?;
        TensorData::new(out.values().to_vec(), &[rows, dim])
    }
}

/// The simulated entry point of a matmul kernel.
type MatmulLauncher = unsafe extern "C" fn(*const MatmulArgs, Dim3, Dim3) -> i32;

/// Launches a tiled-matmul kernel on `a @ b` (3-D) and returns the packed product.
fn run_matmul(
    kernel: &'static str,
    launcher: MatmulLauncher,
    a: &TensorData,
    b: &TensorData,
) -> Result<Vec<f64>> {
    let [n, rows, cols] = matmul_shape(a.shape(), b.shape())?;
    let (mut da, mut db) = (upload(a)?, upload(b)?);
    let mut out = DeviceBuf::zeroed("matmul", n * rows * cols, &[n, rows, cols])?;
    let args = MatmulArgs::new(
        a.layout(),
        b.layout(),
        [out.ptr(), da.ptr(), db.ptr()],
        [n, rows, cols],
    );
    let (grid, block) = launch::matmul(n, rows, cols);
    // SAFETY: as in `map`: the output holds n · rows · cols values and the inputs are whole
    // storages their (validated) layouts index into.
    let status = unsafe { launcher(&args, grid, block) };
    finish(kernel, status, &[&out, &da, &db])?;
    Ok(out.values().to_vec())
}

/// The course's `sum_practice` kernel: the sum of each block of 32 values (one output cell per
/// launched block, ceil(len / 32) of them).
pub fn sum_practice(values: &[f64]) -> Result<Vec<f64>> {
    let (grid, block) = launch::elementwise(values.len());
    let mut input = DeviceBuf::from_slice(values);
    let mut out = DeviceBuf::zeroed("sum_practice", grid.x as usize, &[grid.x as usize])?;
    let args = PracticeArgs {
        out: out.ptr(),
        a: input.ptr(),
        b: std::ptr::null(),
        size: values.len() as i64,
    };
    // SAFETY: `out` has one cell per block and `input` holds `size` values.
    let status = unsafe { sim_sum_practice(&args, grid, block) };
    finish("sum_practice", status, &[&out, &input])?;
    Ok(out.values().to_vec())
}

/// The course's `mm_practice` kernel: `a @ b` for packed square `size × size` matrices,
/// `size ≤ 32`, in one (32, 32) block.
pub fn mm_practice(a: &[f64], b: &[f64], size: usize) -> Result<Vec<f64>> {
    launch::check_mm_practice(a, b, size)?;
    let (mut da, mut db) = (DeviceBuf::from_slice(a), DeviceBuf::from_slice(b));
    let mut out = DeviceBuf::zeroed("mm_practice", size * size, &[size, size])?;
    let args = PracticeArgs {
        out: out.ptr(),
        a: da.ptr(),
        b: db.ptr(),
        size: size as i64,
    };
    let block = Dim3 {
        x: launch::TILE as u32,
        y: launch::TILE as u32,
        z: 1,
    };
    // SAFETY: all three buffers hold size × size values.
    let status = unsafe { sim_mm_practice(&args, Dim3::x(1), block) };
    finish("mm_practice", status, &[&out, &da, &db])?;
    Ok(out.values().to_vec())
}

/// Deliberately broken kernels (compiled only into the simulator), for showing that the
/// simulator catches what a GPU gets wrong only sometimes.
pub mod planted {
    use super::*;

    /// The tiled matmul with the barrier after the tile loads removed.
    pub fn matmul_missing_barrier(a: &TensorData, b: &TensorData) -> Result<Vec<f64>> {
        run_matmul(
            "planted_matmul_missing_barrier",
            sim_planted_matmul_missing_barrier,
            a,
            b,
        )
    }

    /// A copy kernel without its bounds guard.
    pub fn map_out_of_bounds(a: &TensorData) -> Result<Vec<f64>> {
        let size = a.size();
        // A packed copy: the kernel reads `in[i]` for i < size (plus its planted overrun),
        // which only a packed buffer of `size` values, with its guard cells, can take.
        let packed = TensorData::new(a.to_vec()?, a.shape())?;
        let mut input = upload(&packed)?;
        let mut out = DeviceBuf::zeroed("planted", size, &[size])?;
        let layout = KLayout::from(packed.layout());
        let args = MapArgs {
            out: out.ptr(),
            input: input.ptr(),
            out_layout: layout,
            in_layout: layout,
            size: size as i64,
            op: MapOp::Id.code(),
            contiguous: 1,
        };
        let (grid, block) = launch::elementwise(size);
        // SAFETY: the kernel writes past `out`, but never further than the guard cells around
        // it (one block of 32 threads at most), which exist to absorb exactly that.
        let status = unsafe { sim_planted_map_out_of_bounds(&args, grid, block) };
        finish("planted_map_out_of_bounds", status, &[&out, &input])?;
        Ok(out.values().to_vec())
    }

    /// A block-sum whose barrier only the threads below `values.len()` reach: a full block of
    /// 32 values sums fine, fewer make a divergent barrier.
    pub fn divergent_barrier(values: &[f64]) -> Result<Vec<f64>> {
        let mut input = DeviceBuf::from_slice(values);
        let mut out = DeviceBuf::zeroed("planted", 1, &[1])?;
        let args = PracticeArgs {
            out: out.ptr(),
            a: input.ptr(),
            b: std::ptr::null(),
            size: values.len() as i64,
        };
        // SAFETY: one cell of output, `size` values of input.
        let block = Dim3::x(launch::THREADS_PER_BLOCK);
        let status = unsafe { sim_planted_divergent_barrier(&args, Dim3::x(1), block) };
        finish("planted_divergent_barrier", status, &[&out, &input])?;
        Ok(out.values().to_vec())
    }
}
