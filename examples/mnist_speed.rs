#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use minitorch::models::mnist::{MnistNet, Pool, nll_loss, one_hot};
use minitorch::module::Module;
use minitorch::optim::Sgd;
use minitorch::{Backend, Rng, Tensor};
fn main() -> minitorch::Result<()> {
    let backend = Backend::Fast;
    let mut rng = Rng::seed(1);
    let net = MnistNet::new(backend, Pool::Avg, &mut rng)?;
    let opt = Sgd::new(net.parameters(), 0.01)?;
    let b = 16;
    let x = Tensor::rand(&[b, 1, 28, 28], &mut rng)?.mul(&Tensor::scalar(255.0, backend))?;
    let labels: Vec<u8> = (0..b as u8).map(|i| i % 10).collect();
    let y = one_hot(&labels, backend)?;
    if std::env::var("PROFILE").is_ok() {
        minitorch::profile::enable(true);
    }
    let n = 300;
    let t = std::time::Instant::now();
    for _ in 0..n {
        opt.zero_grad();
        let out = net.forward(&x, &mut rng)?;
        let loss = nll_loss(&out, &y)?;
        loss.backward()?;
        opt.step()?;
    }
    let per = t.elapsed().as_secs_f64() / n as f64;
    println!(
        "{:.3} ms per batch of {b}, {:.3} s per 312-batch epoch",
        per * 1e3,
        per * 312.0
    );
    if minitorch::profile::enabled() {
        print!("{}", minitorch::profile::report());
    }
    Ok(())
}
