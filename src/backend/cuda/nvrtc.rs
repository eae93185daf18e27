//! The kernel sources and their compilation by NVRTC, NVIDIA's run-time compiler. NVRTC runs
//! on any machine with its library, GPU or not, so every CI run compile-checks the kernels.
//!
//! The library is loaded at run time (no CUDA toolkit at build time) and probed before any
//! call, so a machine without it gets an error naming what was not found instead of a panic.

use crate::error::{Error, Result};
use cudarc::nvrtc::{CompileOptions, Ptx, compile_ptx_with_opts};

const COMMON: &str = include_str!("../../../kernels/common.cuh");

/// Every kernel file: its name and its source as written (including `common.cuh`).
pub const SOURCES: [(&str, &str); 6] = [
    (
        "elementwise",
        include_str!("../../../kernels/elementwise.cu"),
    ),
    ("reduce", include_str!("../../../kernels/reduce.cu")),
    ("matmul", include_str!("../../../kernels/matmul.cu")),
    ("practice", include_str!("../../../kernels/practice.cu")),
    ("conv", include_str!("../../../kernels/conv.cu")),
    ("embedding", include_str!("../../../kernels/embedding.cu")),
];

/// The kernels each file defines (the `extern "C"` entry points).
pub const ENTRY_POINTS: [(&str, &[&str]); 6] = [
    ("elementwise", &["map_kernel", "zip_kernel", "axpy_kernel"]),
    ("reduce", &["reduce_kernel"]),
    ("matmul", &["matmul_kernel"]),
    ("practice", &["sum_practice", "mm_practice"]),
    ("conv", &["conv2d_kernel", "conv2d_block_kernel"]),
    ("embedding", &["gather_rows_kernel", "scatter_rows_kernel"]),
];

/// A kernel file's source with `common.cuh` inlined (NVRTC reads no files).
pub fn source(name: &str) -> Result<String> {
    let (_, text) = SOURCES
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| Error::Invalid {
            what: "kernel source",
            message: format!(
                "no kernel file {name:?}; expected one of {:?}",
                SOURCES.map(|s| s.0)
            ),
        })?;
    Ok(text.replace(
        "#include \"common.cuh\"",
        &COMMON.replace("#pragma once", ""),
    ))
}

/// Checks that the NVRTC library can be loaded.
pub fn probe() -> Result<()> {
    // SAFETY: only tries to dlopen the library under its usual names; no NVRTC call is made.
    if unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Ok(());
    }
    Err(Error::CudaUnavailable {
        library: "NVRTC (libnvrtc.so / libnvrtc.so.13)",
        message: format!(
            "not found in LD_LIBRARY_PATH={:?} or the system library paths; install NVIDIA's NVRTC \
             (a CUDA toolkit, or `pip install nvidia-cuda-nvrtc==13.0.88` and add its nvidia/cu13/lib \
             directory to LD_LIBRARY_PATH)",
            std::env::var("LD_LIBRARY_PATH").unwrap_or_default()
        ),
    })
}

/// Compiles CUDA C source to PTX for `arch` (e.g. `compute_90`), returning NVRTC's log in the
/// error when the source does not compile.
pub fn compile_source(name: &str, src: &str, arch: &'static str) -> Result<Ptx> {
    probe()?;
    let opts = CompileOptions {
        arch: Some(arch),
        name: Some(format!("{name}.cu")),
        ..CompileOptions::default()
    };
    compile_ptx_with_opts(src, opts).map_err(|e| Error::Kernel {
        kernel: "nvrtc",
        message: format!("{name}.cu does not compile for {arch}: {e}"),
    })
}

/// Compiles one of the kernel files for `arch`.
pub fn compile(name: &str, arch: &'static str) -> Result<Ptx> {
    compile_source(name, &source(name)?, arch)
}

/// Compiles one of the kernel files to a CUBIN for a real architecture (e.g. `sm_90`): machine
/// code the driver loads without JIT, which avoids the PTX-version mismatch between a newer
/// NVRTC and an older driver.
pub fn compile_cubin(name: &str, arch: &str) -> Result<Vec<u8>> {
    use cudarc::nvrtc::{result, sys};
    use std::ffi::CString;
    probe()?;
    let fail = |message: String| Error::Kernel {
        kernel: "nvrtc",
        message: format!("{name}.cu for {arch}: {message}"),
    };
    let src = CString::new(source(name)?).map_err(|e| fail(e.to_string()))?;
    let file = CString::new(format!("{name}.cu")).map_err(|e| fail(e.to_string()))?;
    let prog = result::create_program(&src, Some(&file)).map_err(|e| fail(format!("{e:?}")))?;
    let options = [format!("--gpu-architecture={arch}")];
    // SAFETY: `prog` is a live program created above and destroyed once, at the end; the
    // buffers passed to NVRTC are sized from NVRTC's own reports.
    unsafe {
        let compiled = result::compile_program(prog, &options).map_err(|e| {
            let log = result::get_program_log(prog)
                .map(|l| l.iter().map(|&c| c as u8 as char).collect::<String>());
            fail(format!(
                "does not compile ({e:?}): {}",
                log.unwrap_or_default().trim_end_matches('\0')
            ))
        });
        let cubin = compiled.and_then(|()| {
            let mut size = 0usize;
            sys::nvrtcGetCUBINSize(prog, &mut size)
                .result()
                .map_err(|e| fail(format!("{e:?}")))?;
            let mut bytes = vec![0u8; size];
            sys::nvrtcGetCUBIN(prog, bytes.as_mut_ptr().cast())
                .result()
                .map_err(|e| fail(format!("{e:?}")))?;
            Ok(bytes)
        });
        let _ = result::destroy_program(prog);
        cubin
    }
}
