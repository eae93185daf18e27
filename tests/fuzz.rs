//! A seeded random driver of the safe API that mixes valid and invalid calls — shapes with zero
//! dims, products past `usize::MAX`, huge sizes, bad dims and permutations, hand-built layouts
//! with wild strides and offsets, NaN/inf data, mixed backends, backward misuse — on the
//! simple, fast and cuda-sim backends.
//!
//! Each call knows whether it must succeed or must fail (an oracle computed
//! independently of the library, in 128-bit arithmetic). The driver runs in a child process,
//! each call under `catch_unwind`, so a panic is counted and a crash (segfault, abort) ends only
//! the child, which is restarted after the call that killed it. The test fails on any panic,
//! crash, accepted invalid call or refused valid call.
//!
//! `MINITORCH_FUZZ_CALLS` sets the number of calls (default 3000); `MINITORCH_FUZZ_SEED` the
//! seed (default 1).

use minitorch::tensor_data::Storage;
use minitorch::{Backend, Layout, Rng, Tensor, TensorData};
use std::io::{BufRead, BufReader, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::{Command, Stdio};

const CHILD_ENV: &str = "MINITORCH_FUZZ_CHILD";

/// What a call must do.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Ok,
    Err,
}

/// One generated call: what it is, what it must do, and the call itself.
struct Call {
    what: String,
    expect: Expect,
    run: Box<dyn FnOnce() -> minitorch::Result<()>>,
}

const BACKENDS: [Backend; 3] = [Backend::Simple, Backend::Fast, Backend::CudaSim];

fn pick<T: Copy>(rng: &mut Rng, items: &[T]) -> T {
    items[rng.below(items.len())]
}

/// The product of `shape` if it fits in `usize`.
fn product(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &n| a.checked_mul(n))
}

/// A shape the library must accept: 1–8 dims, no zeros, product fits.
fn valid_shape(shape: &[usize]) -> bool {
    (1..=8).contains(&shape.len()) && !shape.contains(&0) && product(shape).is_some()
}

fn small_shape(rng: &mut Rng) -> Vec<usize> {
    let dims = 1 + rng.below(4);
    (0..dims).map(|_| 1 + rng.below(4)).collect()
}

/// A shape of one of several kinds, valid or not.
fn any_shape(rng: &mut Rng) -> Vec<usize> {
    match rng.below(8) {
        0 => vec![],
        1 => {
            let mut s = small_shape(rng);
            let i = rng.below(s.len());
            s[i] = 0;
            s
        }
        2 => vec![1; 9 + rng.below(3)],
        3 => vec![2, (1 << 63) + 2],
        4 => vec![1 << 32, 1 << 32],
        5 => vec![3, 6148914691236517206],
        6 => vec![usize::MAX, 1 + rng.below(3)],
        _ => small_shape(rng),
    }
}

fn values(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| match rng.below(20) {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => f64::NEG_INFINITY,
            3 => 0.0,
            _ => rng.uniform() * 4.0 - 2.0,
        })
        .collect()
}

fn tensor(rng: &mut Rng, shape: &[usize], backend: Backend) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_vec(values(rng, n), shape)
        .expect("a small valid shape")
        .try_to(backend)
        .expect("host backends")
}

/// Numpy broadcasting, computed independently of the library.
fn broadcasts(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    if n > 8 {
        return None;
    }
    let at = |s: &[usize], i: usize| {
        if i + s.len() >= n {
            s[i + s.len() - n]
        } else {
            1
        }
    };
    (0..n)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()
        .filter(|s| product(s).is_some())
}

/// Shape `b` for a zip with `a`: often compatible (equal, or with 1s and dropped leading dims),
/// sometimes not.
fn partner_shape(rng: &mut Rng, a: &[usize]) -> Vec<usize> {
    match rng.below(4) {
        0 => small_shape(rng),
        1 => {
            let drop = rng.below(a.len());
            a[drop..]
                .iter()
                .map(|&n| if rng.below(2) == 0 { 1 } else { n })
                .collect()
        }
        _ => a.to_vec(),
    }
}

fn call(
    what: String,
    expect: Expect,
    run: impl FnOnce() -> minitorch::Result<()> + 'static,
) -> Call {
    Call {
        what,
        expect,
        run: Box::new(run),
    }
}

fn ok_if(valid: bool) -> Expect {
    if valid { Expect::Ok } else { Expect::Err }
}

/// The `i`-th call of the run seeded `seed` (each call has its own generator, so a restarted
/// child continues exactly where the crashed one stopped).
fn generate(seed: u64, i: u64) -> Call {
    let mut rng = Rng::seed(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i);
    let rng = &mut rng;
    let backend = pick(rng, &BACKENDS);
    match rng.below(13) {
        0 => {
            let shape = any_shape(rng);
            let kind = rng.below(4);
            // Valid shapes here are small, or (like [usize::MAX, 1]) too big to allocate.
            let valid = valid_shape(&shape) && product(&shape).is_some_and(|p| p <= 1 << 24);
            call(
                format!("create#{kind} {shape:?}"),
                ok_if(valid),
                move || {
                    Backend::set_default(backend);
                    let r = match kind {
                        0 => Tensor::zeros(&shape),
                        1 => Tensor::ones(&shape),
                        2 => Tensor::full(&shape, f64::NAN),
                        _ => Tensor::rand(&shape, &mut Rng::seed(3)),
                    };
                    Backend::set_default(Backend::Fast);
                    r.map(drop)
                },
            )
        }
        1 => {
            // Huge but representable sizes: no machine here holds 2^40 values.
            let shape = pick(rng, &[&[1usize << 40][..], &[1 << 20, 1 << 20], &[1 << 61]]);
            call(format!("zeros {shape:?}"), Expect::Err, move || {
                Tensor::zeros(shape).map(drop)
            })
        }
        2 => {
            let shape = any_shape(rng);
            let len = match rng.below(3) {
                0 => product(&shape).unwrap_or(4).min(64),
                1 => 1 + rng.below(16),
                _ => product(&shape).map_or(2, |p| p.wrapping_add(1)).min(64),
            };
            let valid = valid_shape(&shape) && product(&shape) == Some(len);
            call(
                format!("from_vec len {len} {shape:?}"),
                ok_if(valid),
                move || Tensor::from_vec(vec![1.0; len], &shape).map(drop),
            )
        }
        3 => {
            let shape = small_shape(rng);
            let t = tensor(rng, &shape, backend);
            let permuted = rng.below(3) == 0 && shape.len() > 1;
            let t = if permuted {
                let order: Vec<usize> = (0..shape.len()).rev().collect();
                t.permute(&order).unwrap()
            } else {
                t
            };
            let target = any_shape(rng);
            let contiguous = t.is_contiguous();
            let valid = valid_shape(&target) && product(&target) == Some(t.size()) && contiguous;
            call(
                format!("view {:?} -> {target:?} on {backend}", t.shape()),
                ok_if(valid),
                move || t.view(&target).map(drop),
            )
        }
        4 => {
            let shape = small_shape(rng);
            let t = tensor(rng, &shape, backend);
            let n = shape.len();
            let mut order: Vec<usize> = (0..n).collect();
            rng.shuffle(&mut order);
            match rng.below(4) {
                0 => order.push(n),
                1 if n > 1 => order[0] = order[1],
                2 => order[0] = usize::MAX,
                _ => {}
            }
            let mut sorted = order.clone();
            sorted.sort_unstable();
            let valid = sorted == (0..n).collect::<Vec<_>>();
            call(
                format!("permute {shape:?} by {order:?}"),
                ok_if(valid),
                move || {
                    let p = t.permute(&order)?;
                    p.contiguous()?.sum_all().map(drop)
                },
            )
        }
        5 => {
            let shape = small_shape(rng);
            let t = tensor(rng, &shape, backend);
            let dim = pick(rng, &[0, 1, 2, 3, 7, usize::MAX]);
            let kind = rng.below(3);
            call(
                format!("reduce#{kind} {shape:?} dim {dim}"),
                ok_if(dim < shape.len()),
                move || {
                    match kind {
                        0 => t.sum(dim),
                        1 => t.mean(dim),
                        _ => t.all(dim),
                    }
                    .map(drop)
                },
            )
        }
        6 => {
            let sa = small_shape(rng);
            let sb = partner_shape(rng, &sa);
            let mixed = rng.below(8) == 0;
            let other = if mixed { pick(rng, &BACKENDS) } else { backend };
            let (a, b) = (tensor(rng, &sa, backend), tensor(rng, &sb, other));
            let op = rng.below(8);
            let valid = broadcasts(&sa, &sb).is_some() && other == backend;
            call(
                format!("zip#{op} {sa:?} {backend} with {sb:?} {other}"),
                ok_if(valid),
                move || {
                    let r = match op {
                        0 => a.add(&b),
                        1 => a.sub(&b),
                        2 => a.mul(&b),
                        3 => a.div(&b),
                        4 => a.lt(&b),
                        5 => a.gt(&b),
                        6 => a.eq(&b),
                        _ => a.is_close(&b),
                    }?;
                    r.sum_all().map(drop)
                },
            )
        }
        7 => {
            let rank = |rng: &mut Rng| pick(rng, &[1, 2, 2, 3, 3, 4]);
            let (ra, rb) = (rank(rng), rank(rng));
            let dim = |rng: &mut Rng| 1 + rng.below(4);
            let inner = dim(rng);
            let batch = dim(rng);
            let mut sa: Vec<usize> = (0..ra).map(|_| dim(rng)).collect();
            let mut sb: Vec<usize> = (0..rb).map(|_| dim(rng)).collect();
            if rng.below(4) != 0 {
                sa[ra - 1] = inner;
                sb[rb.saturating_sub(2)] = inner;
                if ra == 3 && rb == 3 && rng.below(2) == 0 {
                    sa[0] = batch;
                    sb[0] = pick(rng, &[1, batch]);
                }
            }
            let batch_ok = ra < 3 || rb < 3 || sa[0] == sb[0] || sa[0] == 1 || sb[0] == 1;
            let valid = (2..=3).contains(&ra)
                && (2..=3).contains(&rb)
                && sa[ra - 1] == sb[rb - 2]
                && batch_ok;
            let (a, b) = (tensor(rng, &sa, backend), tensor(rng, &sb, backend));
            let with_bias = rng.below(3) == 0;
            call(
                format!("matmul {sa:?} @ {sb:?} bias {with_bias} on {backend}"),
                ok_if(valid),
                move || {
                    if with_bias {
                        let cols = *b.shape().last().unwrap();
                        let bias = Tensor::full(&[cols], 0.5)?.try_to(a.backend())?;
                        a.matmul_add(&b, &bias).map(drop)
                    } else {
                        a.matmul(&b).map(drop)
                    }
                },
            )
        }
        8 => {
            // A hand-built layout with wild strides and offset over a small storage.
            let shape = small_shape(rng);
            let strides: Vec<usize> = shape
                .iter()
                .map(|_| pick(rng, &[0, 1, 2, 3, 5, 1 << 40, usize::MAX / 3, usize::MAX]))
                .collect();
            let mut offset = pick(rng, &[0, 1, 7, usize::MAX - 1, usize::MAX]);
            let mut strides = strides;
            if rng.below(3) == 0 {
                // A span that wraps past 2^64 to a small number: offset + stride = 2^64 + r.
                offset = pick(rng, &[1, 7, 1 << 40]);
                let d = rng.below(shape.len());
                strides.iter_mut().for_each(|s| *s = 0);
                strides[d] = (usize::MAX - offset).wrapping_add(1 + rng.below(3));
            }
            let len = 1 + rng.below(64);
            // The span in 128-bit arithmetic: offset + Σ (n − 1)·s + 1.
            let span: u128 = offset as u128
                + shape
                    .iter()
                    .zip(&strides)
                    .map(|(&n, &s)| (n as u128 - 1) * s as u128)
                    .sum::<u128>()
                + 1;
            let valid = span <= len as u128;
            let op = rng.below(5);
            call(
                format!(
                    "layout {shape:?} strides {strides:?} offset {offset} over {len}, op {op} on {backend}"
                ),
                ok_if(valid),
                move || {
                    let layout = Layout::new(&shape, &strides, offset)?;
                    let data = TensorData::from_parts(Storage::new(vec![0.25; len]), layout)?;
                    let t = Tensor::from_data(data, backend);
                    match op {
                        0 => t.try_to_vec().map(drop),
                        1 => t.sum(0).map(drop),
                        2 => t.add(&t).map(drop),
                        3 => t.contiguous().map(drop),
                        _ if t.dims() >= 2 => {
                            let n = t.dims();
                            let mut order: Vec<usize> = (0..n).collect();
                            order.swap(n - 2, n - 1);
                            let tt = t.permute(&order)?;
                            if n <= 3 {
                                t.matmul(&tt).map(drop)
                            } else {
                                tt.exp().map(drop)
                            }
                        }
                        _ => t.exp().map(drop),
                    }
                },
            )
        }
        9 => {
            let shape = small_shape(rng);
            let t = tensor(rng, &shape, backend);
            let index: Vec<usize> = match rng.below(4) {
                0 => shape.iter().map(|&n| n - 1).collect(),
                1 => shape.clone(),
                2 => shape
                    .iter()
                    .map(|_| pick(rng, &[1 << 63, usize::MAX]))
                    .collect(),
                _ => vec![0; shape.len() + 1],
            };
            let valid = index.len() == shape.len() && index.iter().zip(&shape).all(|(i, n)| i < n);
            let set = rng.below(2) == 0;
            call(
                format!("get/set {index:?} of {shape:?}"),
                ok_if(valid),
                move || {
                    if set {
                        t.set(&index, 1.0)
                    } else {
                        t.get(&index).map(drop)
                    }
                },
            )
        }
        10 => {
            let shape = small_shape(rng);
            let dim = pick(rng, &[0, 1, 5]);
            let start = pick(rng, &[0, 1, 3, usize::MAX]);
            let len = pick(rng, &[0, 1, 2, usize::MAX]);
            let valid = dim < shape.len()
                && len > 0
                && start.checked_add(len).is_some_and(|e| e <= shape[dim]);
            call(
                format!("narrow {shape:?} dim {dim} {start}+{len}"),
                ok_if(valid),
                move || {
                    let t = Tensor::zeros(&shape)?;
                    let l = t.data().layout().narrow(dim, start, len)?;
                    let view = TensorData::from_parts(t.data().storage().clone(), l)?;
                    view.to_vec().map(drop)
                },
            )
        }
        11 => {
            let shape = small_shape(rng);
            let t = tensor(rng, &shape, backend).requires_grad_(true);
            let misuse = rng.below(5);
            let scalar = shape[1..].iter().product::<usize>() == 1;
            let expect = match misuse {
                0 => ok_if(scalar), // backward without a gradient from y.sum(0)
                1 => Expect::Err,   // backward on a constant
                2 => Expect::Err,   // a second backward through a freed graph
                3 => Expect::Err,   // a gradient of the wrong shape
                _ => Expect::Ok,    // backward_with a right gradient
            };
            call(
                format!("backward misuse {misuse} on {shape:?} {backend}"),
                expect,
                move || {
                    let y = t.mul(&t)?.sigmoid()?;
                    match misuse {
                        0 => y.sum(0)?.backward(),
                        1 => t.detach().sum_all()?.backward(),
                        2 => {
                            let s = y.sum_all()?;
                            s.backward()?;
                            s.backward()
                        }
                        3 => {
                            let mut wrong = shape.clone();
                            wrong.push(2);
                            y.backward_with(&Tensor::zeros(&wrong)?.try_to(backend)?)
                        }
                        _ => y.backward_with(&Tensor::ones(&shape)?.try_to(backend)?),
                    }
                },
            )
        }
        _ => {
            // NaN and infinities flow through every op without trouble.
            let shape = small_shape(rng);
            let t = tensor(rng, &shape, backend);
            call(
                format!("non-finite data {shape:?} {backend}"),
                Expect::Ok,
                move || {
                    let y = t.exp()?.log()?.relu()?.inv()?.neg()?.sigmoid()?;
                    let _ = y.to_string();
                    y.mean_all()?.item().map(drop)
                },
            )
        }
    }
}

/// Child mode: runs calls `from..to`, reporting each on stdout.
fn child(seed: u64, from: u64, to: u64) {
    std::panic::set_hook(Box::new(|_| {}));
    let out = std::io::stdout();
    for i in from..to {
        let c = generate(seed, i);
        writeln!(out.lock(), "FUZZ START {i}").unwrap();
        out.lock().flush().unwrap();
        let outcome = match catch_unwind(AssertUnwindSafe(c.run)) {
            Ok(Ok(())) => "ok".to_string(),
            Ok(Err(e)) => {
                let text = e.to_string();
                if text.is_empty() {
                    "bad-error empty message".into()
                } else {
                    "err".into()
                }
            }
            Err(payload) => {
                let text = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                format!("panic {}", text.replace('\n', " "))
            }
        };
        writeln!(out.lock(), "FUZZ END {i} {outcome}").unwrap();
    }
}

#[test]
fn fuzz_the_safe_api() {
    let env_u64 = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let seed = env_u64("MINITORCH_FUZZ_SEED", 1);
    let calls = env_u64("MINITORCH_FUZZ_CALLS", 3000);
    if let Ok(range) = std::env::var(CHILD_ENV) {
        let (from, to) = range.split_once(',').expect("FROM,TO");
        child(seed, from.parse().unwrap(), to.parse().unwrap());
        return;
    }
    let mut problems = Vec::new();
    let (mut next, mut restarts) = (0u64, 0);
    let mut counts = [0usize; 3];
    while next < calls {
        let mut proc = Command::new(std::env::current_exe().unwrap())
            .args([
                "fuzz_the_safe_api",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, format!("{next},{calls}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the child");
        let mut started = None;
        for line in BufReader::new(proc.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            let mut words = line.splitn(4, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("FUZZ"), Some("START"), Some(i)) => started = Some(i.parse::<u64>().unwrap()),
                (Some("FUZZ"), Some("END"), Some(i)) => {
                    let i: u64 = i.parse().unwrap();
                    let outcome = words.next().unwrap_or("");
                    let c = generate(seed, i);
                    let ok = outcome == "ok";
                    counts[usize::from(!ok)] += 1;
                    let bad = if outcome.starts_with("panic") || outcome.starts_with("bad-error") {
                        Some(outcome.to_string())
                    } else {
                        match (c.expect, ok) {
                            (Expect::Err, true) => Some("accepted an invalid call".into()),
                            (Expect::Ok, false) => Some("refused a valid call".into()),
                            (Expect::Ok, true) | (Expect::Err, false) => None,
                        }
                    };
                    if let Some(why) = bad {
                        problems.push(format!("call {i} ({}): {why}", c.what));
                    }
                    started = None;
                    next = i + 1;
                }
                _ => {}
            }
        }
        let status = proc.wait().unwrap();
        if let Some(i) = started {
            // The child died inside call i: a crash, counted; carry on after it.
            counts[2] += 1;
            problems.push(format!(
                "call {i} ({}): crashed the process ({status})",
                generate(seed, i).what
            ));
            next = i + 1;
            restarts += 1;
            assert!(restarts < 50, "too many crashes:\n{}", problems.join("\n"));
        } else if next < calls {
            panic!("the child stopped early ({status}) after call {next}");
        }
    }
    println!(
        "fuzz: {calls} calls (seed {seed}): {} ok, {} refused, {} crashed",
        counts[0], counts[1], counts[2]
    );
    assert!(
        counts[1] > calls as usize / 10,
        "the driver should exercise error paths too"
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
