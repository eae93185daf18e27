//! Criterion benchmarks: the fast and reference kernels at training and large sizes, the
//! course's batched matmul, each convolution call of an MNIST step, and one training step of
//! the course network.
//!
//! `cargo bench --bench kernels` (add `-- <filter>` to pick groups).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use minitorch::backend::{MapOp, ReduceOp, ZipOp};
use minitorch::datasets::Dataset;
use minitorch::nn::Network;
use minitorch::nn::functional::avgpool2d;
use minitorch::optim::Sgd;
use minitorch::train::Model;
use minitorch::{Backend, Rng, Tensor};
use std::hint::black_box;

// The allocator the `minitorch` program uses, so the training-step figures match its own.
#[global_allocator]
static GLOBAL: minitorch::aligned_alloc::CacheAligned<mimalloc::MiMalloc> =
    minitorch::aligned_alloc::CacheAligned(mimalloc::MiMalloc);

fn rand(shape: &[usize], backend: Backend) -> Tensor {
    Tensor::rand(shape, &mut Rng::seed(7)).unwrap().to(backend)
}

fn elementwise(c: &mut Criterion) {
    let mut group = c.benchmark_group("elementwise");
    for backend in [Backend::Simple, Backend::Fast] {
        for (rows, cols) in [(10, 100), (1000, 1000)] {
            if backend == Backend::Simple && rows > 10 {
                continue;
            }
            let a = rand(&[rows, cols], backend);
            let b = rand(&[rows, cols], backend);
            let bias = rand(&[cols], backend);
            let at = rand(&[cols, rows], backend).permute(&[1, 0]).unwrap();
            let ops = backend.kernels();
            let id = |what: &str| {
                BenchmarkId::new(format!("{backend}/{what}"), format!("{rows}x{cols}"))
            };
            group.bench_function(id("map relu"), |bch| {
                bch.iter(|| ops.map(MapOp::Relu, a.data(), a.shape()).unwrap())
            });
            group.bench_function(id("zip mul"), |bch| {
                bch.iter(|| ops.zip(ZipOp::Mul, a.data(), b.data()).unwrap())
            });
            group.bench_function(id("zip add bias"), |bch| {
                bch.iter(|| ops.zip(ZipOp::Add, a.data(), bias.data()).unwrap())
            });
            group.bench_function(id("zip mul transposed"), |bch| {
                bch.iter(|| ops.zip(ZipOp::Mul, at.data(), b.data()).unwrap())
            });
            group.bench_function(id("reduce sum dim 0"), |bch| {
                bch.iter(|| ops.reduce(ReduceOp::Sum, a.data(), 0).unwrap())
            });
            group.bench_function(id("reduce sum dim 1"), |bch| {
                bch.iter(|| ops.reduce(ReduceOp::Sum, a.data(), 1).unwrap())
            });
        }
    }
    group.finish();
}

/// Every convolution call of an MNIST training step at batch 16 (fast backend): the layers'
/// forward passes with their bias, the weight gradients, conv 4→8's input gradient, and each
/// layer's whole backward with its ReLU; and the average pooling, forward and backward.
fn conv(c: &mut Criterion) {
    let mut group = c.benchmark_group("conv");
    let ops = Backend::Fast.kernels();
    let swap = [1, 0, 2, 3];
    for (cin, cout) in [(1, 4), (4, 8)] {
        let x = rand(&[16, cin, 28, 28], Backend::Fast);
        let w = rand(&[cout, cin, 3, 3], Backend::Fast);
        let bias = rand(&[cout, 1, 1], Backend::Fast);
        let g = rand(&[16, cout, 28, 28], Backend::Fast);
        let (xs, gs, ws) = (
            x.data().permute(&swap).unwrap(),
            g.data().permute(&swap).unwrap(),
            w.data().permute(&swap).unwrap(),
        );
        let layer = format!("mnist {cin}->{cout}");
        group.bench_function(format!("{layer}/forward + bias"), |b| {
            b.iter(|| ops.conv2d_add(x.data(), w.data(), bias.data()).unwrap())
        });
        group.bench_function(format!("{layer}/forward + bias + relu"), |b| {
            b.iter(|| {
                ops.conv2d_add_relu(x.data(), w.data(), bias.data())
                    .unwrap()
            })
        });
        group.bench_function(format!("{layer}/weight gradient"), |b| {
            b.iter(|| ops.conv2d(&xs, &gs, [3, 3], false).unwrap())
        });
        if cin > 1 {
            group.bench_function(format!("{layer}/input gradient"), |b| {
                b.iter(|| ops.conv2d(g.data(), &ws, [28, 28], true).unwrap())
            });
        }
        // The layer's whole backward with its ReLU (the mask, the weight's gradient, the
        // input's for conv 4→8, the bias's sums), as the training step calls it.
        let out = ops
            .conv2d_add_relu(x.data(), w.data(), bias.data())
            .unwrap();
        group.bench_function(format!("{layer}/relu backward (all gradients)"), |b| {
            b.iter(|| {
                ops.conv2d_add_relu_backward(
                    x.data(),
                    w.data(),
                    &out,
                    g.data(),
                    [cin > 1, true, true],
                )
                .unwrap()
            })
        });
    }
    // The network's 4 × 4 average pooling of conv 4→8's output, forward and backward.
    let x = rand(&[16, 8, 28, 28], Backend::Fast);
    let g = rand(&[16, 8, 7, 7], Backend::Fast);
    group.bench_function("avgpool2d 4x4 (16,8,28,28)/forward", |b| {
        b.iter(|| avgpool2d(&x, (4, 4)).unwrap())
    });
    group.bench_function("avgpool2d 4x4 (16,8,28,28)/backward kernel", |b| {
        b.iter(|| ops.avgpool2d_backward(g.data(), [4, 4]).unwrap())
    });
    let x = x.requires_grad_(true);
    group.bench_function("avgpool2d 4x4 (16,8,28,28)/forward + backward", |b| {
        b.iter(|| {
            x.zero_grad();
            avgpool2d(&x, (4, 4)).unwrap().backward_with(&g).unwrap()
        })
    });
    group.finish();
}

fn matmul(c: &mut Criterion) {
    let mut group = c.benchmark_group("matmul");
    group.sample_size(10);
    for backend in [Backend::Simple, Backend::Fast] {
        // The three products of a linear layer's training step: x @ W (forward), g @ Wᵀ and
        // xᵀ @ g (backward), at the course's batch of 10.
        for h in [100, 200] {
            let x = rand(&[10, h], backend);
            let w = rand(&[h, h], backend);
            let wt = w.permute(&[1, 0]).unwrap();
            let xt = x.permute(&[1, 0]).unwrap();
            group.bench_function(format!("{backend}/x@W 10x{h}@{h}x{h}"), |b| {
                b.iter(|| x.matmul(&w).unwrap())
            });
            group.bench_function(format!("{backend}/g@Wt 10x{h}@({h}x{h})t"), |b| {
                b.iter(|| x.matmul(&wt).unwrap())
            });
            group.bench_function(format!("{backend}/xt@g ({h}x10)t@10x{h}"), |b| {
                b.iter(|| xt.matmul(&x).unwrap())
            });
        }
        for n in [64, 256, 1024] {
            if backend == Backend::Simple && n > 256 {
                continue;
            }
            let a = rand(&[2, n, n], backend);
            let b2 = rand(&[2, n, n], backend);
            group.bench_function(format!("{backend}/(2,{n},{n})"), |b| {
                b.iter(|| a.matmul(&b2).unwrap())
            });
        }
    }
    group.finish();
}

fn train_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("train_step");
    for backend in [Backend::Simple, Backend::Fast] {
        for hidden in [100, 200] {
            let data = Dataset::Xor.generate(50, 1);
            let model = Model::Tensor(Network::new(hidden, backend, &mut Rng::seed(2)).unwrap());
            let optim = Sgd::new(model.module().parameters(), 0.05).unwrap();
            let rows: Vec<usize> = (0..10).collect();
            group.bench_function(format!("{backend}/hidden {hidden}, batch 10"), |b| {
                b.iter(|| black_box(model.step(&optim, &data, &rows).unwrap()))
            });
        }
    }
    group.finish();
}

/// The fixed cost of one tensor op (a 10-element add, untracked and tracked) and of the
/// training loss's forward and backward on a batch of 10 probabilities: what every op pays
/// besides its arithmetic.
fn overhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("overhead");
    let a = rand(&[10], Backend::Fast);
    let b = rand(&[10], Backend::Fast);
    group.bench_function("add 10, untracked", |bch| bch.iter(|| a.add(&b).unwrap()));
    let at = a.detach().requires_grad_(true);
    group.bench_function("add 10, tracked", |bch| bch.iter(|| at.add(&b).unwrap()));
    let y = Tensor::from_vec(
        vec![1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0],
        &[10],
    )
    .unwrap();
    group.bench_function("loss 10, forward and backward", |bch| {
        bch.iter(|| {
            let out = at.sigmoid().unwrap();
            let one = out.scalar_like(1.0);
            let prob = out
                .mul(&y)
                .unwrap()
                .add(&out.sub(&one).unwrap().mul(&y.sub(&one).unwrap()).unwrap())
                .unwrap();
            let total = prob.log().unwrap().neg().unwrap().sum_all().unwrap();
            total
                .mul(&out.scalar_like(0.1))
                .unwrap()
                .backward()
                .unwrap();
            at.zero_grad();
        })
    });
    group.finish();
}

criterion_group!(benches, elementwise, conv, matmul, train_step, overhead);
criterion_main!(benches);
