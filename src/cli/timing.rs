//! Kernel benchmarks behind `minitorch bench`: the course's matmul timing script and
//! map/zip/reduce timings, per backend.

use minitorch::backend::{Backend, MapOp, ReduceOp, ZipOp};
use minitorch::error::Result;
use minitorch::random::Rng;
use minitorch::tensor::Tensor;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// The reference backend is skipped above this size by default: its triple loop would take
/// minutes at n = 1024 with three trials.
pub const SIMPLE_MAX_SIZE: usize = 512;

/// One backend at one size of the matmul timing script.
#[derive(Clone, Debug)]
pub struct MatmulTiming {
    /// Backend.
    pub backend: Backend,
    /// Matrix size n (inputs are (2, n, n)).
    pub size: usize,
    /// Mean seconds per trial, input creation included (the original script's figure).
    pub mean_with_inputs: f64,
    /// Median seconds of the matmul alone, each trial on freshly created inputs.
    pub median_matmul: f64,
    /// Median seconds of the matmul repeated on the same inputs (how `numpy_gemm.py` measures).
    pub median_repeat: f64,
}

impl MatmulTiming {
    /// Throughput of the matmul alone on fresh inputs: 2 · batch · n³ flops.
    pub fn gflops(&self) -> f64 {
        self.flops() / self.median_matmul / 1e9
    }

    /// Throughput of the matmul repeated on the same inputs.
    pub fn gflops_repeat(&self) -> f64 {
        self.flops() / self.median_repeat / 1e9
    }

    fn flops(&self) -> f64 {
        2.0 * 2.0 * (self.size as f64).powi(3)
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// The course's timing script for one backend and size: `trials` times, create two
/// `rand((2, n, n))` tensors and multiply them; also time the multiply alone.
pub fn time_matmul(
    backend: Backend,
    size: usize,
    trials: usize,
    rng: &mut Rng,
) -> Result<MatmulTiming> {
    let (mut with_inputs, mut alone, mut repeat) = (Vec::new(), Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..trials.max(1) {
        let start = Instant::now();
        let x = Tensor::rand(&[2, size, size], rng)?.try_to(backend)?;
        let y = Tensor::rand(&[2, size, size], rng)?.try_to(backend)?;
        let mm = Instant::now();
        black_box(x.matmul(&y)?);
        backend.ops().synchronize()?;
        let end = Instant::now();
        with_inputs.push((end - start).as_secs_f64());
        alone.push((end - mm).as_secs_f64());
        last = Some((x, y));
    }
    if let Some((x, y)) = last {
        for _ in 0..trials.max(1) {
            let start = Instant::now();
            black_box(x.matmul(&y)?);
            backend.ops().synchronize()?;
            repeat.push(start.elapsed().as_secs_f64());
        }
    }
    Ok(MatmulTiming {
        backend,
        size,
        mean_with_inputs: with_inputs.iter().sum::<f64>() / with_inputs.len() as f64,
        median_matmul: median(alone),
        median_repeat: median(repeat),
    })
}

/// One warm-up multiply at size 16 (as the original script does).
pub fn warm_up(backend: Backend) -> Result<()> {
    time_matmul(backend, 16, 1, &mut Rng::seed(0)).map(|_| ())
}

/// A map/zip/reduce measurement.
#[derive(Clone, Debug)]
pub struct OpTiming {
    /// What ran, e.g. `zip add (1000,1000)+(1000,)`.
    pub label: String,
    /// Elements in the output.
    pub elements: usize,
    /// Median time per call.
    pub median: Duration,
}

/// The workloads of `bench ops` at `n` elements (as a (rows, 1000)-ish matrix).
pub fn op_workloads(n: usize) -> Vec<(String, OpKind)> {
    let cols = n.min(1000);
    let rows = n / cols;
    let shape = format!("({rows},{cols})");
    vec![
        (
            format!("map relu {shape}"),
            OpKind::Map(MapOp::Relu, rows, cols, false),
        ),
        (
            format!("map relu {shape}ᵀ"),
            OpKind::Map(MapOp::Relu, rows, cols, true),
        ),
        (
            format!("zip mul {shape}"),
            OpKind::Zip(ZipOp::Mul, rows, cols, false),
        ),
        (
            format!("zip add {shape}+({cols},)"),
            OpKind::Bias(rows, cols),
        ),
        (
            format!("zip mul {shape}ᵀ"),
            OpKind::Zip(ZipOp::Mul, rows, cols, true),
        ),
        (
            format!("reduce sum dim 0 {shape}"),
            OpKind::Reduce(ReduceOp::Sum, rows, cols, 0),
        ),
        (
            format!("reduce sum dim 1 {shape}"),
            OpKind::Reduce(ReduceOp::Sum, rows, cols, 1),
        ),
    ]
}

/// A `bench ops` workload: op, rows, cols and layout details.
#[derive(Clone, Copy, Debug)]
pub enum OpKind {
    /// A map on a (rows, cols) tensor; `true` reads it transposed.
    Map(MapOp, usize, usize, bool),
    /// A zip of two (rows, cols) tensors; `true` reads both transposed.
    Zip(ZipOp, usize, usize, bool),
    /// (rows, cols) + (cols,): the bias add.
    Bias(usize, usize),
    /// A reduce along a dim of a (rows, cols) tensor.
    Reduce(ReduceOp, usize, usize, usize),
}

impl OpKind {
    /// Bytes one call reads and writes (operands read once, output written once): the traffic
    /// compared with a plain copy's.
    pub fn traffic_bytes(&self) -> usize {
        let values = match *self {
            OpKind::Map(_, r, c, _) => 2 * r * c,
            OpKind::Zip(_, r, c, _) => 3 * r * c,
            OpKind::Bias(r, c) => 2 * r * c + c,
            OpKind::Reduce(_, r, c, dim) => r * c + if dim == 0 { c } else { r },
        };
        values * 8
    }
}

/// The memory-bandwidth limit for `bench ops`: median times to copy `elements` values from one
/// warm buffer into another, on one thread and split across all threads.
pub struct CopyTiming {
    /// One thread (`copy_from_slice`).
    pub serial: Duration,
    /// Every rayon thread copying its own part.
    pub parallel: Duration,
}

impl CopyTiming {
    /// The faster of the two: the limit an element-wise op is compared with.
    pub fn best(&self) -> Duration {
        self.serial.min(self.parallel)
    }
}

/// Times a plain copy of `elements` values (see [`CopyTiming`]).
pub fn time_copy(elements: usize, reps: usize) -> CopyTiming {
    use rayon::prelude::*;
    let mut rng = Rng::seed(1);
    let src: Vec<f64> = (0..elements).map(|_| rng.uniform()).collect();
    let mut dst = vec![0.0; elements];
    let chunk = elements.div_ceil(rayon::current_num_threads()).max(1);
    let mut time = |parallel: bool| {
        let mut times = Vec::with_capacity(reps);
        for _ in 0..=reps.max(1) {
            let start = Instant::now();
            if parallel {
                dst.par_chunks_mut(chunk)
                    .zip(src.par_chunks(chunk))
                    .for_each(|(d, s)| d.copy_from_slice(s));
            } else {
                dst.copy_from_slice(&src);
            }
            black_box(&mut dst);
            times.push(start.elapsed().as_secs_f64());
        }
        times.remove(0); // the warm-up
        Duration::from_secs_f64(median(times))
    };
    let serial = time(false);
    let parallel = time(true);
    CopyTiming { serial, parallel }
}

/// Times one workload on `backend`: the median of `reps` calls after one warm-up call.
pub fn time_op(backend: Backend, label: &str, kind: OpKind, reps: usize) -> Result<OpTiming> {
    let mut rng = Rng::seed(1);
    let matrix = |r: usize, c: usize, transposed: bool, rng: &mut Rng| -> Result<Tensor> {
        if transposed {
            Ok(Tensor::rand(&[c, r], rng)?
                .try_to(backend)?
                .permute(&[1, 0])?)
        } else {
            Ok(Tensor::rand(&[r, c], rng)?.try_to(backend)?)
        }
    };
    let ops = backend.ops();
    let run: Box<dyn Fn() -> Result<usize>> = match kind {
        OpKind::Map(op, r, c, t) => {
            let a = matrix(r, c, t, &mut rng)?;
            Box::new(move || Ok(ops.map(op, a.data(), a.shape())?.size()))
        }
        OpKind::Zip(op, r, c, t) => {
            let (a, b) = (matrix(r, c, t, &mut rng)?, matrix(r, c, t, &mut rng)?);
            Box::new(move || Ok(ops.zip(op, a.data(), b.data())?.size()))
        }
        OpKind::Bias(r, c) => {
            let (a, b) = (
                matrix(r, c, false, &mut rng)?,
                Tensor::rand(&[c], &mut rng)?.try_to(backend)?,
            );
            Box::new(move || Ok(ops.zip(ZipOp::Add, a.data(), b.data())?.size()))
        }
        OpKind::Reduce(op, r, c, dim) => {
            let a = matrix(r, c, false, &mut rng)?;
            Box::new(move || Ok(ops.reduce(op, a.data(), dim)?.size()))
        }
    };
    let elements = run()?;
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let start = Instant::now();
        black_box(run()?);
        // A GPU op returns once its kernel is queued; the time is until it has run.
        ops.synchronize()?;
        times.push(start.elapsed().as_secs_f64());
    }
    Ok(OpTiming {
        label: label.to_string(),
        elements,
        median: Duration::from_secs_f64(median(times)),
    })
}

/// The same arithmetic as `zip mul` written as a plain Rust slice loop: the floor the fast
/// backend's contiguous path is compared with.
pub fn time_plain_loop(elements: usize, reps: usize) -> Duration {
    let mut rng = Rng::seed(1);
    let a: Vec<f64> = (0..elements).map(|_| rng.uniform()).collect();
    let b: Vec<f64> = (0..elements).map(|_| rng.uniform()).collect();
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let start = Instant::now();
        let out: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x * y).collect();
        black_box(out);
        times.push(start.elapsed().as_secs_f64());
    }
    Duration::from_secs_f64(median(times))
}

/// The median time of `reps` conv2d forward + backward passes (gradients of input and weight)
/// on `backend`, after one warm-up pass.
pub fn time_conv(
    backend: Backend,
    input: [usize; 4],
    weight: [usize; 4],
    reps: usize,
) -> Result<Duration> {
    let mut rng = Rng::seed(1);
    let x = Tensor::rand(&input, &mut rng)?.try_to(backend)?;
    let w = Tensor::rand(&weight, &mut rng)?.try_to(backend)?;
    let g = Tensor::rand(&[input[0], weight[0], input[2], input[3]], &mut rng)?.try_to(backend)?;
    let run = || -> Result<()> {
        let (x, w) = (
            x.detach().requires_grad_(true),
            w.detach().requires_grad_(true),
        );
        x.conv2d(&w)?.backward_with(&g)?;
        black_box(x.grad());
        backend.ops().synchronize()
    };
    run()?;
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let start = Instant::now();
        run()?;
        times.push(start.elapsed().as_secs_f64());
    }
    Ok(Duration::from_secs_f64(median(times)))
}
