//! Compiles the CUDA kernel sources (kernels/*.cu) for the host with the simulator's
//! compatibility header (sim/), for the `cuda-sim` backend. Needs only a C++ compiler.

fn main() {
    for dir in ["kernels", "sim"] {
        println!("cargo:rerun-if-changed={dir}");
    }
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .opt_level(2)
        .warnings(false)
        // Rounded like the Rust reference: no multiply-add contraction in the kernels.
        .flag_if_supported("-ffp-contract=off")
        .file("sim/runtime.cpp")
        .file("sim/kernels.cpp")
        .file("sim/planted.cpp")
        .compile("minitorch_cuda_sim");
}
