//! The `cuda` backend: tensors in GPU memory, the kernels of `kernels/` compiled at run time by
//! NVRTC to a CUBIN for the device's own architecture (PTX only as a fallback), launched with
//! the shapes of [`launch`].
//!
//! Nothing CUDA is needed to build: the driver (`libcuda.so`) and NVRTC (`libnvrtc.so.13`) are
//! loaded when the backend is first used, after probing for them, so a machine without them
//! (or without a device) gets [`Error::CudaUnavailable`] naming what is missing — never a
//! panic. Device set-up and kernel compilation happen once per process.
//!
//! Data crosses to the host only when read (`to_vec`, `item`, printing) or moved with
//! `Tensor::to`. Constants made on the host (the numbers in `x * 2.0`) are uploaded when an
//! op uses them. Ops return once their kernel is queued on the backend's one stream; reads
//! wait for it, and timers call [`TensorOps::synchronize`].
//!
//! Results: every op but `exp`, `log` and `sigmoid` is IEEE arithmetic in the reference
//! backend's order (reductions, products and convolutions in their own order), so maps and
//! zips match it bit for bit. CUDA's `exp` and `log` are within 1 ulp of the exact value, as
//! the host's libm is, but not the same function: those three maps are within 4 ulp of the
//! reference (tests/tensor_general.rs checks both).

use super::args::{
    AxpyArgs, ConvArgs, Dim3, MapArgs, MatmulArgs, ReduceArgs, RowsArgs, ZipArgs,
    check_kernel_sizes, scatter_lists,
};
use super::{launch, nvrtc};
use crate::backend::simple::{check_gather, check_scatter};
use crate::backend::{
    MapOp, ReduceOp, TensorOps, ZipOp, check_same_shape, conv2d_shape, matmul_shape, reduce_shape,
    with_batch,
};
use crate::error::{Error, Result};
use crate::layout::{Dims, Layout, broadcast_target, shape_broadcast_for};
use crate::tensor_data::{DeviceMemory, Storage, TensorData};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DevicePtr, DeviceRepr, LaunchConfig,
    PushKernelArg,
};
use std::cell::Ref;
use std::sync::{Arc, OnceLock};

// SAFETY: the argument structs are #[repr(C)] plain data (integers, f64 and device addresses),
// laid out exactly as the kernels' structs in kernels/common.cuh.
unsafe impl DeviceRepr for MapArgs {}
// SAFETY: as above.
unsafe impl DeviceRepr for ZipArgs {}
// SAFETY: as above.
unsafe impl DeviceRepr for ReduceArgs {}
// SAFETY: as above.
unsafe impl DeviceRepr for MatmulArgs {}
// SAFETY: as above.
unsafe impl DeviceRepr for AxpyArgs {}
// SAFETY: as above.
unsafe impl DeviceRepr for RowsArgs {}
// SAFETY: as above.
unsafe impl DeviceRepr for ConvArgs {}

/// The device, its stream and the compiled kernels.
pub struct Gpu {
    stream: Arc<CudaStream>,
    functions: Vec<(&'static str, CudaFunction)>,
    /// What was found, for reports: device name, compute capability, how the kernels loaded.
    pub description: String,
}

static GPU: OnceLock<std::result::Result<Gpu, Error>> = OnceLock::new();

fn driver_error(what: &str, e: impl std::fmt::Debug) -> Error {
    Error::Kernel {
        kernel: "cuda",
        message: format!("{what}: {e:?}"),
    }
}

/// The device (set up on first use), or why there is none.
pub fn gpu() -> Result<&'static Gpu> {
    GPU.get_or_init(init).as_ref().map_err(Clone::clone)
}

fn init() -> Result<Gpu> {
    // SAFETY: only tries to dlopen the driver library; no driver call is made.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err(Error::CudaUnavailable {
            library: "the NVIDIA driver (libcuda.so / libcuda.so.1)",
            message: format!(
                "not found in LD_LIBRARY_PATH={:?} or the system library paths; install the NVIDIA driver",
                std::env::var("LD_LIBRARY_PATH").unwrap_or_default()
            ),
        });
    }
    nvrtc::probe()?;
    let count =
        CudaContext::device_count().map_err(|e| driver_error("cuInit / cuDeviceGetCount", e))?;
    if count < 1 {
        return Err(Error::CudaUnavailable {
            library: "a CUDA device",
            message: "the driver reports no device".into(),
        });
    }
    let ctx = CudaContext::new(0).map_err(|e| driver_error("creating a context on device 0", e))?;
    // SAFETY: cudarc's events order a buffer's uses across streams; this backend has one
    // stream (the context's default one, below) for every allocation, copy, launch and free,
    // and never creates another, so stream order alone orders every use. Without tracking,
    // an allocation makes no events (two cuEventCreate and two cuEventDestroy fewer per op).
    unsafe { ctx.disable_event_tracking() };
    let (major, minor) = ctx
        .compute_capability()
        .map_err(|e| driver_error("compute capability", e))?;
    let name = ctx.name().unwrap_or_else(|_| "device 0".into());
    let stream = ctx.default_stream();
    let mut functions = Vec::new();
    let mut loaded_as = "CUBIN";
    for (file, entries) in nvrtc::ENTRY_POINTS {
        let sm = format!("sm_{major}{minor}");
        let module = match nvrtc::compile_cubin(file, &sm) {
            Ok(cubin) => ctx.load_module(cudarc::nvrtc::Ptx::from_binary(cubin)),
            Err(_) => {
                loaded_as = "PTX (CUBIN compilation failed)";
                let arch: &'static str =
                    Box::leak(format!("compute_{major}{minor}").into_boxed_str());
                ctx.load_module(nvrtc::compile(file, arch)?)
            }
        }
        .map_err(|e| driver_error(&format!("loading {file}.cu"), e))?;
        for &entry in entries {
            let f = module
                .load_function(entry)
                .map_err(|e| driver_error(&format!("loading {entry}"), e))?;
            functions.push((entry, f));
        }
    }
    Ok(Gpu {
        stream,
        functions,
        description: format!(
            "{name}, compute capability {major}.{minor}, kernels loaded as {loaded_as}"
        ),
    })
}

impl Gpu {
    fn function(&self, name: &'static str) -> Result<&CudaFunction> {
        self.functions
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| f)
            .ok_or_else(|| Error::Kernel {
                kernel: name,
                message: "no such kernel was compiled".into(),
            })
    }

    fn alloc(&self, len: usize) -> Result<CudaSlice<f64>> {
        self.stream
            .alloc_zeros::<f64>(len.max(1))
            .map_err(|e| driver_error(&format!("allocating {len} values"), e))
    }

    fn upload(&self, values: &[f64]) -> Result<CudaSlice<f64>> {
        self.stream
            .clone_htod(values)
            .map_err(|e| driver_error("copying to the device", e))
    }

    fn launch<A: DeviceRepr>(
        &self,
        kernel: &'static str,
        args: &A,
        (grid, block): (Dim3, Dim3),
    ) -> Result<()> {
        let f = self.function(kernel)?;
        let cfg = LaunchConfig {
            grid_dim: (grid.x, grid.y, grid.z),
            block_dim: (block.x, block.y, block.z),
            shared_mem_bytes: 0,
        };
        let mut builder = self.stream.launch_builder(f);
        builder.arg(args);
        // SAFETY: `args` matches the kernel's parameter struct (see DeviceRepr above) and every
        // device address in it points into an allocation of the size its layout reaches, kept
        // alive by the caller until the stream has run the kernel (reads synchronise on it).
        unsafe { builder.launch(cfg) }
            .map_err(|e| driver_error(&format!("launching {kernel}"), e))?;
        Ok(())
    }
}

/// A buffer in GPU memory.
#[derive(Debug)]
struct CudaMemory(CudaSlice<f64>);

impl DeviceMemory for CudaMemory {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn read(&self) -> Result<Vec<f64>> {
        gpu()?
            .stream
            .clone_dtoh(&self.0)
            .map_err(|e| driver_error("copying to the host", e))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// An operand's device memory: its own, or a temporary upload of host values.
enum Operand<'a> {
    Resident(Ref<'a, dyn DeviceMemory>),
    Uploaded(CudaSlice<f64>),
}

impl Operand<'_> {
    fn of<'a>(gpu: &Gpu, t: &'a TensorData) -> Result<Operand<'a>> {
        match t.storage().device_memory() {
            Some(memory) => Ok(Operand::Resident(memory)),
            None => Ok(Operand::Uploaded(gpu.upload(&t.storage().read()?)?)),
        }
    }

    fn slice(&self) -> Result<&CudaSlice<f64>> {
        match self {
            Operand::Resident(memory) => memory
                .as_any()
                .downcast_ref::<CudaMemory>()
                .map(|m| &m.0)
                .ok_or_else(|| Error::Invalid {
                    what: "cuda",
                    message: "the tensor's device memory belongs to another backend".into(),
                }),
            Operand::Uploaded(slice) => Ok(slice),
        }
    }
}

/// The device address of a slice as the kernels' `double*`.
fn address(gpu: &Gpu, slice: &CudaSlice<f64>) -> *mut f64 {
    let (ptr, _sync) = slice.device_ptr(&gpu.stream);
    ptr as usize as *mut f64
}

fn output(slice: CudaSlice<f64>, shape: Dims) -> TensorData {
    TensorData::from_parts(
        Storage::device(Box::new(CudaMemory(slice))),
        Layout::packed(shape),
    )
    .expect("a fresh packed buffer fits its layout")
}

/// The GPU backend's kernels.
pub struct CudaOps;

impl TensorOps for CudaOps {
    fn map(&self, op: MapOp, a: &TensorData, out_shape: &[usize]) -> Result<TensorData> {
        check_kernel_sizes("map", &[a])?;
        let out_shape = broadcast_target("map", a.shape(), out_shape)?;
        let gpu = gpu()?;
        let size = out_shape.product();
        let input = Operand::of(gpu, a)?;
        let out = gpu.alloc(size)?;
        let args = MapArgs::new(
            op,
            a,
            out_shape,
            [address(gpu, &out), address(gpu, input.slice()?)],
        );
        gpu.launch("map_kernel", &args, launch::elementwise(size))?;
        Ok(output(out, out_shape))
    }

    fn zip(&self, op: ZipOp, a: &TensorData, b: &TensorData) -> Result<TensorData> {
        check_kernel_sizes(op.name(), &[a, b])?;
        let out_shape = shape_broadcast_for(op.name(), a.shape(), b.shape())?;
        let gpu = gpu()?;
        let size = out_shape.product();
        let (da, db) = (Operand::of(gpu, a)?, Operand::of(gpu, b)?);
        let out = gpu.alloc(size)?;
        let args = ZipArgs::new(
            op,
            [a, b],
            out_shape,
            [
                address(gpu, &out),
                address(gpu, da.slice()?),
                address(gpu, db.slice()?),
            ],
        );
        gpu.launch("zip_kernel", &args, launch::elementwise(size))?;
        Ok(output(out, out_shape))
    }

    fn reduce(&self, op: ReduceOp, a: &TensorData, dim: usize) -> Result<TensorData> {
        check_kernel_sizes("reduce", &[a])?;
        let gpu = gpu()?;
        let out_shape = reduce_shape(a.shape(), dim)?;
        let cells = out_shape.product();
        let input = Operand::of(gpu, a)?;
        let out = gpu.alloc(cells)?;
        let args = ReduceArgs::new(
            op,
            a,
            dim,
            out_shape,
            [address(gpu, &out), address(gpu, input.slice()?)],
        );
        gpu.launch(
            "reduce_kernel",
            &args,
            launch::reduce(cells, a.shape()[dim]),
        )?;
        Ok(output(out, out_shape))
    }

    fn matmul(&self, a: &TensorData, b: &TensorData) -> Result<TensorData> {
        with_batch(a, b, matmul3)
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
        let gpu = gpu()?;
        let size = out_shape.product();
        let (di, dw) = (Operand::of(gpu, input)?, Operand::of(gpu, weight)?);
        let out = gpu.alloc(size)?;
        let args = ConvArgs::new(
            [input, weight],
            out_shape,
            reverse,
            [
                address(gpu, &out),
                address(gpu, di.slice()?),
                address(gpu, dw.slice()?),
            ],
        );
        let terms = weight.shape()[1..].iter().product();
        let (kernel, grid, block) = launch::conv2d(size, terms);
        gpu.launch(kernel.name(), &args, (grid, block))?;
        Ok(output(out, out_shape))
    }

    fn add_scaled_(&self, y: &TensorData, alpha: f64, x: &TensorData) -> Result<()> {
        check_same_shape("add_scaled_", y, x)?;
        let gpu = gpu()?;
        let target = y.storage().device_memory().ok_or_else(|| Error::Invalid {
            what: "add_scaled_",
            message: "the tensor to update is not in device memory".into(),
        })?;
        let dy = Operand::Resident(target);
        let dx = Operand::of(gpu, x)?;
        let args = AxpyArgs::new(
            y,
            alpha,
            x,
            [address(gpu, dy.slice()?), address(gpu, dx.slice()?)],
        );
        gpu.launch("axpy_kernel", &args, launch::elementwise(y.size()))
    }

    fn gather_rows(&self, table: &TensorData, ids: &[u32]) -> Result<TensorData> {
        check_kernel_sizes("gather_rows", &[table])?;
        let dim = check_gather("gather_rows", table, ids)?;
        let size = ids.len() * dim;
        if size == 0 {
            return self.adopt(&TensorData::new(Vec::new(), &[ids.len(), dim])?);
        }
        let gpu = gpu()?;
        let input = Operand::of(gpu, table)?;
        let ids_buf = gpu.upload(&ids.iter().map(|&id| f64::from(id)).collect::<Vec<_>>())?;
        let out = gpu.alloc(size)?;
        let args = RowsArgs::new(
            table,
            size,
            [
                address(gpu, &out),
                address(gpu, input.slice()?),
                address(gpu, &ids_buf),
                std::ptr::null_mut(),
            ],
        );
        gpu.launch("gather_rows_kernel", &args, launch::elementwise(size))?;
        Ok(output(out, Dims::new(&[ids.len(), dim])?))
    }

    fn scatter_add_rows(&self, grad: &TensorData, ids: &[u32], rows: usize) -> Result<TensorData> {
        check_kernel_sizes("scatter_add_rows", &[grad])?;
        let dim = check_scatter(grad, ids, rows)?;
        let size = rows * dim;
        if size == 0 {
            return self.adopt(&TensorData::new(Vec::new(), &[rows, dim])?);
        }
        let gpu = gpu()?;
        let (positions, offsets) = scatter_lists(ids, rows);
        let input = Operand::of(gpu, grad)?;
        let (pos_buf, off_buf) = (gpu.upload(&positions)?, gpu.upload(&offsets)?);
        let out = gpu.alloc(size)?;
        let args = RowsArgs::new(
            grad,
            size,
            [
                address(gpu, &out),
                address(gpu, input.slice()?),
                address(gpu, &pos_buf),
                address(gpu, &off_buf),
            ],
        );
        gpu.launch("scatter_rows_kernel", &args, launch::elementwise(size))?;
        Ok(output(out, Dims::new(&[rows, dim])?))
    }

    fn synchronize(&self) -> Result<()> {
        gpu()?
            .stream
            .synchronize()
            .map_err(|e| driver_error("waiting for the stream", e))
    }

    fn adopt(&self, data: &TensorData) -> Result<TensorData> {
        if let Some(memory) = data.storage().device_memory()
            && memory.as_any().is::<CudaMemory>()
        {
            return Ok(data.clone());
        }
        let gpu = gpu()?;
        let shape = Dims::new(data.shape())?;
        Ok(output(gpu.upload(&data.to_vec()?)?, shape))
    }
}

/// The course's `sum_practice` kernel on the GPU: the sum of each block of 32 values.
pub fn sum_practice(values: &[f64]) -> Result<Vec<f64>> {
    let gpu = gpu()?;
    let (grid, block) = launch::elementwise(values.len());
    let input = gpu.upload(values)?;
    let mut out = gpu.alloc(grid.x as usize)?;
    let size = values.len() as i64;
    let cfg = LaunchConfig {
        grid_dim: (grid.x, 1, 1),
        block_dim: (block.x, 1, 1),
        shared_mem_bytes: 0,
    };
    let mut builder = gpu.stream.launch_builder(gpu.function("sum_practice")?);
    builder.arg(&mut out).arg(&input).arg(&size);
    // SAFETY: sum_practice(double* out, const double* a, long long size): out has one cell per
    // block, input holds `size` values.
    unsafe { builder.launch(cfg) }.map_err(|e| driver_error("launching sum_practice", e))?;
    gpu.stream
        .clone_dtoh(&out)
        .map_err(|e| driver_error("copying to the host", e))
}

/// The course's `mm_practice` kernel on the GPU: `a @ b` for packed square matrices, size ≤ 32.
pub fn mm_practice(a: &[f64], b: &[f64], size: usize) -> Result<Vec<f64>> {
    launch::check_mm_practice(a, b, size)?;
    let gpu = gpu()?;
    let (da, db) = (gpu.upload(a)?, gpu.upload(b)?);
    let mut out = gpu.alloc(size * size)?;
    let n = size as i64;
    let cfg = LaunchConfig {
        grid_dim: (1, 1, 1),
        block_dim: (launch::TILE as u32, launch::TILE as u32, 1),
        shared_mem_bytes: 0,
    };
    let mut builder = gpu.stream.launch_builder(gpu.function("mm_practice")?);
    builder.arg(&mut out).arg(&da).arg(&db).arg(&n);
    // SAFETY: mm_practice(double* out, const double* a, const double* b, long long size): all
    // three hold size × size values.
    unsafe { builder.launch(cfg) }.map_err(|e| driver_error("launching mm_practice", e))?;
    gpu.stream
        .clone_dtoh(&out)
        .map_err(|e| driver_error("copying to the host", e))
}

/// The kernel's product of two 3-D operands (a batch of 1 broadcasts).
fn matmul3(a: &TensorData, b: &TensorData) -> Result<TensorData> {
    check_kernel_sizes("matmul", &[a, b])?;
    let [n, rows, cols] = matmul_shape(a.shape(), b.shape())?;
    let gpu = gpu()?;
    let (da, db) = (Operand::of(gpu, a)?, Operand::of(gpu, b)?);
    let out = gpu.alloc(n * rows * cols)?;
    let pointers = [
        address(gpu, &out),
        address(gpu, da.slice()?),
        address(gpu, db.slice()?),
    ];
    let args = MatmulArgs::new(a.layout(), b.layout(), pointers, [n, rows, cols]);
    gpu.launch("matmul_kernel", &args, launch::matmul(n, rows, cols))?;
    Ok(output(out, Dims::new(&[n, rows, cols])?))
}
