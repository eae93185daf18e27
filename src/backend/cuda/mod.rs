//! CUDA kernels (MiniTorch tasks 3.3 and 3.4): the kernel sources live in `kernels/*.cu`;
//! [`sim`] runs them on the CPU with the same launch shapes ([`launch`]) and argument structs
//! (`args.rs`) a GPU would get, [`nvrtc`] compiles them for a GPU, and [`device`] runs them
//! there.

pub(crate) mod args;
pub mod device;
pub mod launch;
pub mod nvrtc;
pub mod sim;
