//! PyTorch side by side: the benchmarks run the scripts of `bench/` (embedded in the binary)
//! with the Python named by `MINITORCH_PYTHON` (default `python3`) when it can import torch,
//! and print its times next to minitorch's, measured in the same run.

use std::io::Write;
use std::process::{Command, Stdio};

/// The Python the reference scripts run with.
fn python() -> String {
    std::env::var("MINITORCH_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Runs `script` (the text of a `bench/` script that prints one JSON object with `--json`)
/// with `args`; returns the object, or why there is none (no Python, no torch, a failure).
pub fn run(script: &str, args: &[String]) -> Result<serde_json::Value, String> {
    let python = python();
    let mut child = Command::new(&python)
        .arg("-")
        .args(args)
        .arg("--json")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!("cannot run {python} ({e}); set MINITORCH_PYTHON to a Python with torch")
        })?;
    child
        .stdin
        .take()
        .expect("stdin was piped")
        .write_all(script.as_bytes())
        .map_err(|e| format!("cannot send the script to {python}: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{python} failed: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("no message");
        return Err(format!(
            "{python} could not run the PyTorch reference: {last}"
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or(""))
        .map_err(|e| format!("unreadable PyTorch reference output ({e})"))
}
