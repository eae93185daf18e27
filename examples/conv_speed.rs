#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use minitorch::{Backend, Rng, Tensor};
fn main() {
    let ops = Backend::Fast.kernels();
    let mut rng = Rng::seed(1);
    let cases: [(&[usize], &[usize], [usize; 2], bool, &str); 6] = [
        (
            &[16, 1, 28, 28],
            &[4, 1, 3, 3],
            [28, 28],
            false,
            "conv1 fwd",
        ),
        (
            &[16, 4, 28, 28],
            &[8, 4, 3, 3],
            [28, 28],
            false,
            "conv2 fwd",
        ),
        (
            &[16, 8, 28, 28],
            &[4, 8, 3, 3],
            [28, 28],
            true,
            "conv2 grad in",
        ),
        (
            &[4, 16, 28, 28],
            &[8, 16, 28, 28],
            [3, 3],
            false,
            "conv2 grad w",
        ),
        (
            &[1, 16, 28, 28],
            &[4, 16, 28, 28],
            [3, 3],
            false,
            "conv1 grad w",
        ),
        (
            &[64, 16, 28, 28],
            &[32, 16, 3, 3],
            [28, 28],
            false,
            "big fwd",
        ),
    ];
    for (is, ws, out, rev, name) in cases {
        let x = Tensor::rand(is, &mut rng).unwrap();
        let w = Tensor::rand(ws, &mut rng).unwrap();
        let n = 50;
        let t = std::time::Instant::now();
        for _ in 0..n {
            ops.conv2d(x.data(), w.data(), out, rev).unwrap();
        }
        let per = t.elapsed().as_secs_f64() / n as f64;
        let macs: usize = is[0] * ws[0] * out[0] * out[1] * ws[1] * ws[2] * ws[3];
        println!(
            "{name:14} {:8.1} us  {:6.1} GFLOP/s",
            per * 1e6,
            2.0 * macs as f64 / per / 1e9
        );
    }
}
