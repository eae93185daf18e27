//! Bounds of the numeric flags, and a pre-flight estimate of the memory a run needs.
//!
//! Every numeric flag has a fixed range (generous, but safe on a laptop), documented in its
//! `--help`. Inside those ranges, sizes still multiply (`--hidden` by `--pts`, say), so before
//! any work the command estimates the bytes the run will hold and compares them with the memory
//! the process can get: `MemAvailable`, the cgroup's limit and `ulimit -v`, whichever is least.
//! The allocator reserves lazily, so without this check an oversized run would not fail at once
//! but fill the machine's memory until the kernel killed it.

use super::{CliError, Result};
use minitorch::train::Engine;

/// Largest `--hidden`: the hidden×hidden weights then take 2 GiB (8 GiB with gradients and the
/// SGD update), and one epoch on the default data takes seconds.
pub const MAX_HIDDEN: usize = 16_384;
/// Largest `--pts` of `train` and `eval`: an epoch steps through every batch and evaluates every
/// point, so beyond ten million points one epoch takes minutes.
pub const MAX_PTS: usize = 10_000_000;
/// Largest `--batch` (a batch at least as large as `--pts` is the whole dataset).
pub const MAX_BATCH: usize = MAX_PTS;
/// Largest `--epochs`: the run keeps one report per epoch for the summary and the plot, and at a
/// millisecond per epoch a million epochs already take 17 minutes.
pub const MAX_EPOCHS: usize = 1_000_000;
/// Largest `--rate`: SGD steps this large only make the loss diverge.
pub const MAX_RATE: f64 = 1000.0;
/// Largest `--pts` of `datasets`: drawing a million points per panel already takes seconds, and
/// they cover the panels entirely.
pub const MAX_PLOT_PTS: usize = 1_000_000;
/// Largest `bench matmul --sizes`: a (2, n, n) matmul at n = 8192 is 2.2 TFLOP, about a minute
/// per trial on a fast desktop.
pub const MAX_MATMUL_SIZE: usize = 8192;
/// Largest `--simple-max`: the reference backend's triple loop takes tens of minutes per trial
/// beyond.
pub const MAX_SIMPLE_SIZE: usize = 2048;
/// Largest `--trials`: the mean settles long before, and a trial at the largest size takes a
/// minute.
pub const MAX_TRIALS: usize = 100;
/// Largest `bench ops --sizes` (elements per operand).
pub const MAX_OPS_SIZE: usize = 100_000_000;
/// Largest `--reps`: the median settles long before.
pub const MAX_REPS: usize = 10_000;

/// Checks `min <= value <= max` for the count `flag`; `why` says why `max` is the limit.
pub fn count(flag: &'static str, value: usize, min: usize, max: usize, why: &str) -> Result<()> {
    if value < min {
        return Err(CliError::flag(
            flag,
            value,
            format!("must be at least {min}"),
        ));
    }
    if value > max {
        return Err(CliError::flag(
            flag,
            value,
            format!("at most {max} ({why})"),
        ));
    }
    Ok(())
}

/// Largest `--epochs` of the Module 4 commands (`mnist`, `sentiment`).
pub const MAX_MODEL_EPOCHS: usize = 100_000;
/// Largest `--batch` of the Module 4 commands.
pub const MAX_MODEL_BATCH: usize = 65_536;

/// Checks the `--epochs`, `--batch` and `--rate` of a Module 4 command.
pub fn model_schedule(epochs: usize, batch: usize, rate: f64) -> Result<()> {
    count(
        "--epochs",
        epochs,
        1,
        MAX_MODEL_EPOCHS,
        "a bound on run time",
    )?;
    count(
        "--batch",
        batch,
        1,
        MAX_MODEL_BATCH,
        "a bound on memory per step",
    )?;
    self::rate("--rate", rate)
}

/// Checks a learning rate: a finite number in (0, [`MAX_RATE`]].
pub fn rate(flag: &'static str, value: f64) -> Result<()> {
    if !value.is_finite() || value <= 0.0 {
        return Err(CliError::flag(
            flag,
            value,
            "must be a positive finite number (the SGD step size)".into(),
        ));
    }
    if value > MAX_RATE {
        return Err(CliError::flag(
            flag,
            value,
            format!("at most {MAX_RATE} (steps this large only make the loss diverge)"),
        ));
    }
    Ok(())
}

/// Bytes as a short decimal size: `512 B`, `3.2 GB`, `80.0 PB`.
pub fn human(bytes: f64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut value = bytes;
    for unit in UNITS {
        if value < 1000.0 || unit == "EB" {
            if value >= 1000.0 {
                return format!("{bytes:.1e} B");
            }
            return if unit == "B" {
                format!("{value:.0} B")
            } else {
                format!("{value:.1} {unit}")
            };
        }
        value /= 1000.0;
    }
    unreachable!("the last unit returns")
}

/// What a run is expected to hold in memory, and the flag that contributes most.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Bytes the run will hold at its peak (roughly; on the generous side).
    pub bytes: f64,
    /// The flag whose value dominates the estimate.
    pub flag: &'static str,
    /// That flag's value.
    pub value: String,
    /// The settings the estimate is for (`hidden 100, 50 points, batch 10, fast backend`).
    pub what: String,
}

/// The largest of several `(bytes, flag, value)` terms names the flag; the sum is the estimate.
fn dominant(terms: &[(f64, &'static str, usize)], what: String) -> Estimate {
    let bytes = terms.iter().map(|t| t.0).sum();
    let &(_, flag, value) = terms
        .iter()
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .expect("at least one term");
    Estimate {
        bytes,
        flag,
        value: value.to_string(),
        what,
    }
}

/// Memory of `train`: parameters with their gradients and updates, a batch's activations (both
/// passes), the per-epoch evaluation of every point (and of the plot's 80×80 grid) and the
/// data. The factors come from measured peaks (tensor engine: about 3 copies of the weights,
/// 4 activations per point evaluated; scalar engine: about 420 bytes per weight per point of a
/// batch), rounded up.
pub fn train_memory(
    engine: Engine,
    hidden: usize,
    pts: usize,
    batch: usize,
    plot: bool,
) -> Estimate {
    let (h, n) = (hidden as f64, pts as f64);
    let b = batch.min(pts) as f64;
    let evaluated = if plot { n.max(6400.0) } else { n };
    let weights = h * h + 5.0 * h + 1.0;
    let data = 32.0 * n;
    let terms = match engine {
        Engine::Tensor(_) => [
            (4.0 * 8.0 * weights, "--hidden", hidden),
            (12.0 * 8.0 * b * h, "--batch", batch),
            (5.0 * 8.0 * evaluated * h + data, "--pts", pts),
        ],
        Engine::Scalar => [
            (256.0 * weights, "--hidden", hidden),
            // The graph grows with the batch, but its weights² factor is what makes it large.
            (512.0 * b * weights, "--hidden", hidden),
            (512.0 * weights + data, "--pts", pts),
        ],
    };
    dominant(
        &terms,
        format!("hidden {hidden}, {pts} points, batch {batch}, {engine} backend"),
    )
}

/// Memory of `eval`: the parameters and one forward pass over every point.
pub fn eval_memory(engine: Engine, hidden: usize, pts: usize) -> Estimate {
    let (h, n) = (hidden as f64, pts as f64);
    let weights = h * h + 5.0 * h + 1.0;
    let terms = match engine {
        Engine::Tensor(_) => [
            (2.0 * 8.0 * weights, "--load", hidden),
            (5.0 * 8.0 * n * h + 32.0 * n, "--pts", pts),
        ],
        Engine::Scalar => [
            (256.0 * weights + 512.0 * weights, "--load", hidden),
            (32.0 * n, "--pts", pts),
        ],
    };
    dominant(
        &terms,
        format!("hidden {hidden} from the checkpoint, {pts} points, {engine} backend"),
    )
}

/// Memory of `bench matmul` at size `n`: two (2, n, n) inputs, the previous trial's pair and the
/// output, with room for a backend's copies.
pub fn matmul_memory(n: usize) -> Estimate {
    let n2 = (n as f64) * (n as f64);
    dominant(
        &[(6.0 * 2.0 * 8.0 * n2, "--sizes", n)],
        format!("two (2, {n}, {n}) inputs and their product"),
    )
}

/// Memory of `bench ops` at `n` elements: two operands, the output and a transposed copy.
pub fn ops_memory(n: usize) -> Estimate {
    dominant(
        &[(5.0 * 8.0 * n as f64, "--sizes", n)],
        format!("operands and results of {n} elements"),
    )
}

/// Memory the process can still get, in bytes, and where that figure comes from.
#[derive(Clone, Copy, Debug)]
pub struct Available {
    /// Bytes.
    pub bytes: u64,
    /// `available on this machine`, `left under the cgroup memory limit`, …
    pub source: &'static str,
}

/// The least of `MemAvailable`, the cgroup's memory limit less its usage and `ulimit -v` less
/// the address space in use; `None` where none can be read.
pub fn available_memory() -> Option<Available> {
    let mut best: Option<Available> = None;
    let mut offer = |bytes: Option<u64>, source: &'static str| {
        if let Some(bytes) = bytes
            && best.is_none_or(|b| bytes < b.bytes)
        {
            best = Some(Available { bytes, source });
        }
    };
    offer(
        meminfo_available().or_else(sysinfo_available),
        "available on this machine",
    );
    offer(cgroup_available(), "left under this cgroup's memory limit");
    offer(address_space_available(), "left under `ulimit -v`");
    best
}

/// `MemAvailable` of /proc/meminfo (free memory plus what the kernel can reclaim).
fn meminfo_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    kib_field(&text, "MemAvailable:")
}

/// A `Name:   1234 kB` field of a /proc file, in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib.saturating_mul(1024))
}

#[cfg(target_os = "linux")]
fn sysinfo_available() -> Option<u64> {
    // SAFETY: sysinfo fills the zero-initialised struct it is given and reads nothing else.
    let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
    if unsafe { libc::sysinfo(&mut info) } != 0 {
        return None;
    }
    let unit = u64::from(info.mem_unit.max(1));
    Some((info.freeram as u64).saturating_add(info.bufferram as u64) * unit)
}

#[cfg(not(target_os = "linux"))]
fn sysinfo_available() -> Option<u64> {
    None
}

/// The cgroup (v2, else v1) memory limit less the cgroup's usage; `None` when unlimited.
fn cgroup_available() -> Option<u64> {
    let read =
        |path: &str| -> Option<u64> { std::fs::read_to_string(path).ok()?.trim().parse().ok() };
    let (limit, used) = match read("/sys/fs/cgroup/memory.max") {
        Some(limit) => (limit, read("/sys/fs/cgroup/memory.current").unwrap_or(0)),
        None => (
            read("/sys/fs/cgroup/memory/memory.limit_in_bytes")?,
            read("/sys/fs/cgroup/memory/memory.usage_in_bytes").unwrap_or(0),
        ),
    };
    // v1 reports "no limit" as a number near 2^63; v2 as "max" (which does not parse).
    (limit < 1 << 60).then(|| limit.saturating_sub(used))
}

/// `ulimit -v` (RLIMIT_AS) less the address space the process already maps.
#[cfg(unix)]
fn address_space_available() -> Option<u64> {
    // SAFETY: getrlimit writes the limits into the struct it is given.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } != 0
        || limit.rlim_cur == libc::RLIM_INFINITY
    {
        return None;
    }
    let status = std::fs::read_to_string("/proc/self/status").ok();
    let used = status.and_then(|s| kib_field(&s, "VmSize:")).unwrap_or(0);
    Some((limit.rlim_cur as u64).saturating_sub(used))
}

#[cfg(not(unix))]
fn address_space_available() -> Option<u64> {
    None
}

/// Refuses a run whose estimate exceeds the memory available (when that can be read).
pub fn check_memory(estimate: &Estimate) -> Result<()> {
    check_memory_against(estimate, available_memory())
}

/// [`check_memory`] against a given amount.
pub fn check_memory_against(estimate: &Estimate, available: Option<Available>) -> Result<()> {
    match available {
        Some(a) if estimate.bytes > a.bytes as f64 => Err(CliError::Flag {
            flag: estimate.flag,
            value: estimate.value.clone(),
            message: format!(
                "the run would need about {} ({}), more than the {} {}",
                human(estimate.bytes),
                estimate.what,
                human(a.bytes as f64),
                a.source
            ),
        }),
        _ => Ok(()),
    }
}

/// ", this machine has 24.8 GB available" (or nothing when unknown), for limit messages.
pub fn machine_note() -> String {
    available_memory()
        .map(|a| format!("; {} {}", human(a.bytes as f64), a.source))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use minitorch::Backend;

    const FAST: Engine = Engine::Tensor(Backend::Fast);

    #[test]
    fn counts_name_the_flag_the_value_and_the_limit() {
        assert!(count("--epochs", 1, 1, 10, "why").is_ok());
        assert!(count("--epochs", 10, 1, 10, "why").is_ok());
        assert_eq!(
            count("--epochs", 0, 1, 10, "why").unwrap_err().to_string(),
            "--epochs 0: must be at least 1"
        );
        assert_eq!(
            count("--hidden", 11, 1, 10, "too big")
                .unwrap_err()
                .to_string(),
            "--hidden 11: at most 10 (too big)"
        );
    }

    #[test]
    fn rates_must_be_positive_finite_and_bounded() {
        for ok in [1e-9, 0.05, 1.0, MAX_RATE] {
            assert!(rate("--rate", ok).is_ok(), "{ok}");
        }
        for bad in [0.0, -0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let msg = rate("--rate", bad).unwrap_err().to_string();
            assert!(msg.contains("must be a positive finite number"), "{msg}");
        }
        assert_eq!(
            rate("--rate", -f64::INFINITY).unwrap_err().to_string(),
            "--rate -inf: must be a positive finite number (the SGD step size)"
        );
        assert!(
            rate("--rate", 1e4)
                .unwrap_err()
                .to_string()
                .starts_with("--rate 10000: at most 1000")
        );
    }

    #[test]
    fn sizes_print_in_decimal_units() {
        assert_eq!(human(512.0), "512 B");
        assert_eq!(human(1500.0), "1.5 kB");
        assert_eq!(human(24.8e9), "24.8 GB");
        assert_eq!(human(8e16), "80.0 PB");
        assert_eq!(human(2.7e39), "2.7e39 B");
    }

    #[test]
    fn estimates_grow_with_the_settings_and_name_the_dominant_flag() {
        let default = train_memory(FAST, 100, 50, 10, false);
        assert!(default.bytes < 10e6, "{default:?}");
        let wide = train_memory(FAST, MAX_HIDDEN, 50, 10, false);
        assert_eq!(wide.flag, "--hidden");
        // Four copies of 16384² f64 weights.
        assert!(wide.bytes > 8e9 && wide.bytes < 9e9, "{wide:?}");
        let many = train_memory(FAST, 100, MAX_PTS, 10, false);
        assert_eq!((many.flag, many.value.as_str()), ("--pts", "10000000"));
        let batch = train_memory(FAST, 100, 1000, 1000, false);
        assert_eq!(batch.flag, "--batch");
        // A batch beyond the dataset holds only the dataset.
        assert_eq!(
            train_memory(FAST, 100, 1000, 1_000_000, false).bytes,
            batch.bytes
        );
        // The plot evaluates an 80×80 grid.
        assert!(train_memory(FAST, 100, 50, 10, true).bytes > default.bytes);
        // The scalar engine holds a graph node per weight per point of the batch.
        let scalar = train_memory(Engine::Scalar, 1000, 50, 10, false);
        assert_eq!(scalar.flag, "--hidden");
        assert!(scalar.bytes > 5e9, "{scalar:?}");
        assert!(eval_memory(FAST, 100, MAX_PTS).bytes > 40e9);
        assert!(matmul_memory(MAX_MATMUL_SIZE).bytes > 6e9);
        assert!(ops_memory(MAX_OPS_SIZE).bytes > 3e9);
    }

    #[test]
    fn the_memory_check_compares_with_what_is_available() {
        let e = train_memory(FAST, 4096, 50, 10, false);
        let plenty = Available {
            bytes: 1 << 40,
            source: "available on this machine",
        };
        let little = Available {
            bytes: 1 << 20,
            source: "available on this machine",
        };
        assert!(check_memory_against(&e, Some(plenty)).is_ok());
        assert!(check_memory_against(&e, None).is_ok());
        let msg = check_memory_against(&e, Some(little))
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "--hidden 4096: the run would need about 549.7 MB (hidden 4096, 50 points, batch 10, \
             fast backend), more than the 1.0 MB available on this machine"
        );
    }

    #[test]
    fn available_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            let a = available_memory().expect("/proc/meminfo");
            assert!(a.bytes > 0);
        }
        assert_eq!(
            kib_field(
                "MemTotal: 10 kB\nMemAvailable:   24230284 kB\n",
                "MemAvailable:"
            ),
            Some(24230284 * 1024)
        );
        assert_eq!(kib_field("MemTotal: 10 kB\n", "MemAvailable:"), None);
    }
}
