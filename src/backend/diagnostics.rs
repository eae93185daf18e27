//! Kernel diagnostics, the backend layer's half of the [profiler](crate::profile): kernels
//! [`note`] which path they took, and [`Profiled`] times every call of a backend's kernels
//! into a per-thread table when profiling is [`enabled`]. [`Backend::ops`] is the one place
//! that chooses between the plain and the timed kernels.

use super::{Backend, MapOp, ReduceOp, TensorOps, ZipOp};
use crate::error::Result;
use crate::tensor_data::TensorData;
use std::cell::{Cell, RefCell};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How a kernel handled its operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// Every operand packed: plain slice loops.
    Contiguous,
    /// An operand broadcast (stride 0): scalar–vector or row-broadcast loops.
    Broadcast,
    /// Permuted or sliced operands: merged dims, odometer rows.
    Strided,
    /// A packed GEMM (matmul).
    Gemm,
    /// The packing-free kernels for small products (matmul).
    SmallGemm,
    /// The reference backend's per-element index arithmetic.
    Reference,
    /// Register-tiled kernels reading the operands directly (convolution).
    Direct,
}

impl Path {
    /// The path's name in profiles.
    pub fn name(self) -> &'static str {
        match self {
            Path::Contiguous => "contiguous",
            Path::Broadcast => "broadcast",
            Path::Strided => "strided",
            Path::Gemm => "gemm",
            Path::SmallGemm => "small gemm",
            Path::Reference => "reference",
            Path::Direct => "direct",
        }
    }
}

static ENABLED: AtomicBool = AtomicBool::new(false);
static FROM_ENV: OnceLock<()> = OnceLock::new();

/// True when profiling is on (first call reads `MINITORCH_PROFILE`).
#[inline]
pub fn enabled() -> bool {
    FROM_ENV.get_or_init(|| {
        if std::env::var("MINITORCH_PROFILE").is_ok_and(|v| !v.is_empty() && v != "0") {
            ENABLED.store(true, Ordering::Relaxed);
        }
    });
    ENABLED.load(Ordering::Relaxed)
}

/// Turns profiling on or off for the whole process.
pub fn enable(on: bool) {
    enabled();
    ENABLED.store(on, Ordering::Relaxed);
}

/// The figures of one (backend, op, path, threads) combination.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) backend: &'static str,
    pub(crate) op: &'static str,
    pub(crate) path: Path,
    pub(crate) parallel: bool,
    pub(crate) calls: u64,
    pub(crate) total: Duration,
    pub(crate) elements: u64,
}

thread_local! {
    static NOTED: Cell<(Path, bool)> = const { Cell::new((Path::Reference, false)) };
    static TABLE: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
}

/// Kernels call this to say which path they took (ignored unless profiling).
#[inline]
pub(crate) fn note(path: Path, parallel: bool) {
    if enabled() {
        NOTED.with(|n| n.set((path, parallel)));
    }
}

fn record(backend: Backend, op: &'static str, elements: usize, elapsed: Duration) {
    let (path, parallel) = NOTED.with(|n| n.replace((Path::Reference, false)));
    TABLE.with(|t| {
        let mut table = t.borrow_mut();
        let key = |e: &&mut Entry| {
            e.backend == backend.name() && e.op == op && e.path == path && e.parallel == parallel
        };
        match table.iter_mut().find(key) {
            Some(e) => {
                e.calls += 1;
                e.total += elapsed;
                e.elements += elements as u64;
            }
            None => table.push(Entry {
                backend: backend.name(),
                op,
                path,
                parallel,
                calls: 1,
                total: elapsed,
                elements: elements as u64,
            }),
        }
    });
}

/// Clears the collected figures (of this thread).
pub fn reset() {
    TABLE.with(|t| t.borrow_mut().clear());
}

/// The collected figures (of this thread).
pub(crate) fn entries() -> Vec<Entry> {
    TABLE.with(|t| t.borrow().clone())
}

/// A backend's kernels wrapped with timing.
pub(crate) struct Profiled(pub(crate) Backend);

impl Profiled {
    fn time(
        &self,
        op: &'static str,
        run: impl FnOnce(&dyn TensorOps) -> Result<TensorData>,
    ) -> Result<TensorData> {
        NOTED.with(|n| n.set((Path::Reference, false)));
        let kernels = self.0.kernels();
        let start = Instant::now();
        // A GPU op only queues its kernel: wait for it, so the time is the op's.
        let out = run(kernels).and_then(|out| kernels.synchronize().map(|()| out));
        let elapsed = start.elapsed();
        record(
            self.0,
            op,
            out.as_ref().map_or(0, TensorData::size),
            elapsed,
        );
        out
    }

    /// [`time`](Profiled::time) for a layer's backward, which returns up to three gradients:
    /// timed as one op whose size is that of `grad`, the output's gradient.
    fn time_grads(
        &self,
        op: &'static str,
        grad: &TensorData,
        run: impl FnOnce(&dyn TensorOps) -> Result<[Option<TensorData>; 3]>,
    ) -> Result<[Option<TensorData>; 3]> {
        let mut grads = [None, None, None];
        self.time(op, |k| {
            grads = run(k)?;
            Ok(grad.clone())
        })?;
        Ok(grads)
    }
}

impl TensorOps for Profiled {
    fn map(&self, op: MapOp, a: &TensorData, out_shape: &[usize]) -> Result<TensorData> {
        self.time(op.label(), |k| k.map(op, a, out_shape))
    }
    fn zip(&self, op: ZipOp, a: &TensorData, b: &TensorData) -> Result<TensorData> {
        self.time(op.label(), |k| k.zip(op, a, b))
    }
    fn reduce(&self, op: ReduceOp, a: &TensorData, dim: usize) -> Result<TensorData> {
        self.time(op.label(), |k| k.reduce(op, a, dim))
    }
    fn matmul(&self, a: &TensorData, b: &TensorData) -> Result<TensorData> {
        self.time("matmul", |k| k.matmul(a, b))
    }
    fn matmul_add(&self, a: &TensorData, b: &TensorData, bias: &TensorData) -> Result<TensorData> {
        self.time("matmul_add", |k| k.matmul_add(a, b, bias))
    }
    fn matmul_add_relu(
        &self,
        a: &TensorData,
        b: &TensorData,
        bias: &TensorData,
    ) -> Result<TensorData> {
        self.time("matmul_add_relu", |k| k.matmul_add_relu(a, b, bias))
    }
    fn conv2d(
        &self,
        input: &TensorData,
        weight: &TensorData,
        out_hw: [usize; 2],
        reverse: bool,
    ) -> Result<TensorData> {
        self.time(if reverse { "conv2d reverse" } else { "conv2d" }, |k| {
            k.conv2d(input, weight, out_hw, reverse)
        })
    }
    fn conv2d_add(
        &self,
        input: &TensorData,
        weight: &TensorData,
        bias: &TensorData,
    ) -> Result<TensorData> {
        self.time("conv2d_add", |k| k.conv2d_add(input, weight, bias))
    }
    fn conv2d_add_relu(
        &self,
        input: &TensorData,
        weight: &TensorData,
        bias: &TensorData,
    ) -> Result<TensorData> {
        self.time("conv2d_add_relu", |k| {
            k.conv2d_add_relu(input, weight, bias)
        })
    }
    fn conv2d_add_relu_backward(
        &self,
        input: &TensorData,
        weight: &TensorData,
        out: &TensorData,
        grad: &TensorData,
        needs: [bool; 3],
    ) -> Result<[Option<TensorData>; 3]> {
        self.time_grads("conv2d_add_relu_backward", grad, |k| {
            k.conv2d_add_relu_backward(input, weight, out, grad, needs)
        })
    }
    fn conv2d_add_relu_avgpool_backward(
        &self,
        input: &TensorData,
        weight: &TensorData,
        out: &TensorData,
        grad: &TensorData,
        (kernel, needs): ([usize; 2], [bool; 3]),
    ) -> Result<[Option<TensorData>; 3]> {
        self.time_grads("conv2d_add_relu_avgpool_backward", out, |k| {
            k.conv2d_add_relu_avgpool_backward(input, weight, out, grad, (kernel, needs))
        })
    }
    fn matmul_add_backward(
        &self,
        a: &TensorData,
        b: &TensorData,
        grad: &TensorData,
        needs: [bool; 3],
    ) -> Result<[Option<TensorData>; 3]> {
        self.time_grads("matmul_add_backward", grad, |k| {
            k.matmul_add_backward(a, b, grad, needs)
        })
    }
    fn matmul_add_relu_backward(
        &self,
        a: &TensorData,
        b: &TensorData,
        out: &TensorData,
        grad: &TensorData,
        needs: [bool; 3],
    ) -> Result<[Option<TensorData>; 3]> {
        self.time_grads("matmul_add_relu_backward", grad, |k| {
            k.matmul_add_relu_backward(a, b, out, grad, needs)
        })
    }
    fn avgpool2d(&self, input: &TensorData, kernel: [usize; 2]) -> Result<TensorData> {
        self.time("avgpool2d", |k| k.avgpool2d(input, kernel))
    }
    fn avgpool2d_backward(&self, grad: &TensorData, kernel: [usize; 2]) -> Result<TensorData> {
        self.time("avgpool2d_backward", |k| k.avgpool2d_backward(grad, kernel))
    }
    fn add_scaled_(&self, y: &TensorData, alpha: f64, x: &TensorData) -> Result<()> {
        self.time("add_scaled_", |k| {
            k.add_scaled_(y, alpha, x).map(|()| y.clone())
        })
        .map(|_| ())
    }
    fn gather_rows(&self, table: &TensorData, ids: &[u32]) -> Result<TensorData> {
        self.time("gather_rows", |k| k.gather_rows(table, ids))
    }
    fn scatter_add_rows(&self, grad: &TensorData, ids: &[u32], rows: usize) -> Result<TensorData> {
        self.time("scatter_add_rows", |k| k.scatter_add_rows(grad, ids, rows))
    }
    fn synchronize(&self) -> Result<()> {
        self.0.kernels().synchronize()
    }
    fn adopt(&self, data: &TensorData) -> Result<TensorData> {
        self.0.kernels().adopt(data)
    }
}
