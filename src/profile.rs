//! The op profiler: the Rust answer to Numba's parallel diagnostics in the original course.
//!
//! With `MINITORCH_PROFILE=1` in the environment (or [`enable`]), every backend kernel call is
//! timed and counted per backend, op and path taken (contiguous, broadcast, strided, GEMM;
//! serial or parallel). [`report`] formats the table; the `minitorch` command prints it at exit
//! when profiling is on (`--profile`).
//!
//! ```
//! use minitorch::{profile, Backend, Tensor};
//! profile::enable(true);
//! let x = Tensor::ones(&[10, 100]).unwrap().to(Backend::Fast);
//! x.relu().unwrap();
//! let text = profile::report();
//! assert!(text.contains("map relu"));
//! profile::enable(false);
//! ```
//!
//! When profiling is off the cost is one relaxed atomic load per kernel call.

use crate::backend::diagnostics::entries;
pub use crate::backend::diagnostics::{Path, enable, enabled, reset};
use std::fmt::Write;
use std::time::Duration;

/// The collected figures as a table, slowest total first.
pub fn report() -> String {
    let mut rows = entries();
    rows.sort_by_key(|e| std::cmp::Reverse(e.total));
    let total: Duration = rows.iter().map(|e| e.total).sum();
    let mut s = String::from(
        "minitorch profile (kernel time per backend, op and path)\n\
         backend  op               path        threads     calls    total ms   mean us    elements/call\n",
    );
    for e in &rows {
        let _ = writeln!(
            s,
            "{:<8} {:<16} {:<11} {:<8} {:>9} {:>11.3} {:>9.2} {:>16.0}",
            e.backend,
            e.op,
            e.path.name(),
            if e.parallel { "parallel" } else { "serial" },
            e.calls,
            e.total.as_secs_f64() * 1e3,
            e.total.as_secs_f64() * 1e6 / e.calls as f64,
            e.elements as f64 / e.calls as f64,
        );
    }
    let _ = writeln!(s, "kernel total {:.3} ms", total.as_secs_f64() * 1e3);
    s
}
