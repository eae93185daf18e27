//! Every kernel file compiles with NVRTC (no GPU needed). Where the NVRTC library is missing the
//! test says so on stderr and passes, unless `MINITORCH_REQUIRE_NVRTC=1` (CI sets it) or
//! `MINITORCH_REQUIRE_CUDA=1`, which make a missing library a failure.

use minitorch::backend::cuda::nvrtc::{ENTRY_POINTS, compile, compile_source, probe};
use std::io::Write;

/// True when NVRTC is loadable; otherwise reports the skip (bypassing the test harness's output
/// capture) or fails when it is required.
fn nvrtc_or_skip(test: &str) -> bool {
    match probe() {
        Ok(()) => true,
        Err(e) => {
            let required = ["MINITORCH_REQUIRE_NVRTC", "MINITORCH_REQUIRE_CUDA"]
                .iter()
                .any(|v| std::env::var(v).is_ok_and(|x| x == "1"));
            assert!(!required, "{test}: NVRTC is required here but {e}");
            let _ = writeln!(std::io::stderr(), "SKIP {test}: {e}");
            false
        }
    }
}

#[test]
fn every_kernel_file_compiles_with_nvrtc() {
    if !nvrtc_or_skip("every_kernel_file_compiles_with_nvrtc") {
        return;
    }
    for arch in ["compute_75", "compute_90"] {
        for (file, entries) in ENTRY_POINTS {
            let ptx = compile(file, arch).unwrap_or_else(|e| panic!("{e}"));
            let text = ptx.to_src();
            for entry in entries {
                assert!(
                    text.contains(&format!(".entry {entry}(")),
                    "{file}.cu for {arch}: no entry {entry}"
                );
            }
        }
    }
}

#[test]
fn a_broken_kernel_is_rejected_with_the_compiler_log() {
    if !nvrtc_or_skip("a_broken_kernel_is_rejected_with_the_compiler_log") {
        return;
    }
    let err = compile_source(
        "broken",
        "extern \"C\" __global__ void k(double* x) { x[0] = undefined_name; }",
        "compute_75",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("broken.cu does not compile") && err.contains("undefined_name"),
        "{err}"
    );
}

#[test]
fn every_kernel_file_compiles_to_a_cubin_for_hopper() {
    if !nvrtc_or_skip("every_kernel_file_compiles_to_a_cubin_for_hopper") {
        return;
    }
    for (file, _) in ENTRY_POINTS {
        let cubin = minitorch::backend::cuda::nvrtc::compile_cubin(file, "sm_90")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(cubin.starts_with(b"\x7fELF"), "{file}.cu: not an ELF CUBIN");
    }
}
