//! The op table: every element-wise function and fold the backends know, defined once.
//!
//! MiniTorch passes functions as data to `map`, `zip` and `reduce`. Here those functions are
//! small enums ([`MapOp`], [`ZipOp`], [`ReduceOp`]) generated from one table each by
//! `op_table!`. A row gives the variant, its op code (the number the CUDA kernels switch on,
//! `OP_<NAME>` in `kernels/common.cuh`), its name, and its function. From the row come:
//!
//! - the enum variant with an explicit discriminant (its CUDA op code);
//! - `name()` (for errors) and `label()` (`"map relu"`, for the profiler);
//! - `apply()` / `fold()`, used by the reference backend;
//! - `ALL`, every op in code order (the parity tests and the CUDA consistency test walk it);
//! - a dispatch macro (`with_map_fn!`, `with_zip_fn!`, `with_fold!`) that binds each op's
//!   function as a concrete closure, so the fast backend compiles one loop per op.
//!
//! ## Adding an element-wise op (checklist)
//!
//! 1. A row in the table below (variant, next free code, name, function — usually one of
//!    [`operators`](crate::operators), named by its full path: the dispatch macros expand
//!    elsewhere).
//! 2. The same code as `#define OP_<NAME>` and a `case` in `apply_map`/`apply_zip` of
//!    `kernels/common.cuh` (`tests/cuda_sim.rs` checks codes and constants against this table).
//! 3. The tensor `Function` (forward and backward) in `src/tensor/functions.rs`.
//! 4. The public method in `src/tensor/api.rs`.
//!
//! Every backend then runs it: the reference and fast backends through this table, cuda-sim
//! and cuda through the kernel source.

/// Defines an op enum, its metadata and its dispatch macro from one table.
///
/// `$d` is a literal `$`, so that the generated dispatch macro can have metavariables.
macro_rules! op_table {
    // The argument list is needed twice: as parameters, and as one token tree for the calls
    // inside the per-op repetition.
    (
        $d:tt
        $(#[$meta:meta])*
        enum $Enum:ident: $kind:literal, fn($($arg:ident),+), dispatch $dispatch:ident
        $body:tt
    ) => {
        op_table!(@impl $d [$($arg),+] ($($arg),+) $(#[$meta])* enum $Enum: $kind,
                  dispatch $dispatch $body);
    };
    (
        @impl $d:tt [$($arg:ident),+] $call:tt
        $(#[$meta:meta])*
        enum $Enum:ident: $kind:literal, dispatch $dispatch:ident {
            $( $(#[$vdoc:meta])* $Variant:ident = $code:literal, $name:literal => $f:expr; )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum $Enum {
            $( $(#[$vdoc])* $Variant = $code, )+
        }

        impl $Enum {
            /// Every op, in op-code order.
            pub const ALL: [$Enum; [$($name),+].len()] = [$($Enum::$Variant),+];

            /// The op's name, for errors (`"relu"`).
            pub fn name(self) -> &'static str {
                match self { $($Enum::$Variant => $name,)+ }
            }

            /// The op's label in profiles (`"map relu"`).
            pub fn label(self) -> &'static str {
                match self { $($Enum::$Variant => concat!($kind, " ", $name),)+ }
            }

            /// The op code the CUDA kernels switch on (`OP_<NAME>` in `kernels/common.cuh`).
            pub fn code(self) -> i64 {
                self as i64
            }

            /// Applies the op (the reference backend's definition).
            #[inline]
            pub fn apply(self, $($arg: f64),+) -> f64 {
                match self { $($Enum::$Variant => ($f)$call,)+ }
            }
        }

        /// Binds `$f` to the op's function as a concrete closure, so each arm compiles its own
        /// loop: `with_…!(op, f => body)`.
        #[allow(unused_macros)]
        macro_rules! $dispatch {
            ($d op:expr, $d f:ident => $d body:expr) => {
                match $d op {
                    $( $crate::backend::$Enum::$Variant => {
                        let $d f = $f;
                        $d body
                    } )+
                }
            };
        }
        #[allow(unused_imports)]
        pub(crate) use $dispatch;
    };
}

op_table! {
    $
    /// Element-wise functions of one value.
    enum MapOp: "map", fn(x), dispatch with_map_fn {
        /// `−x`.
        Neg = 0, "neg" => crate::operators::neg;
        /// Logistic function.
        Sigmoid = 1, "sigmoid" => crate::operators::sigmoid;
        /// `max(x, 0)`.
        Relu = 2, "relu" => crate::operators::relu;
        /// `ln(x + 1e-6)`.
        Log = 3, "log" => crate::operators::log;
        /// `e^x`.
        Exp = 4, "exp" => crate::operators::exp;
        /// `x` (copies, or broadcasts into a bigger output).
        Id = 5, "id" => crate::operators::id;
        /// `1/x`.
        Inv = 6, "inv" => crate::operators::inv;
    }
}

op_table! {
    $
    /// Element-wise functions of two values.
    enum ZipOp: "zip", fn(a, b), dispatch with_zip_fn {
        /// `a + b`.
        Add = 0, "add" => crate::operators::add;
        /// `a · b`.
        Mul = 1, "mul" => crate::operators::mul;
        /// 1.0 when `a < b`.
        Lt = 2, "lt" => crate::operators::lt;
        /// 1.0 when `a == b`.
        Eq = 3, "eq" => crate::operators::eq;
        /// 1.0 when `|a − b| < 0.01`.
        IsClose = 4, "is_close" => |a, b| f64::from(u8::from(crate::operators::is_close(a, b)));
        /// `b` where `a > 0`, else 0 (ReLU's backward: a = input, b = gradient).
        ReluBack = 5, "relu_back" => crate::operators::relu_back;
        /// `b / (a + 1e-6)` (log's backward).
        LogBack = 6, "log_back" => crate::operators::log_back;
        /// `−b / a²` (inverse's backward).
        InvBack = 7, "inv_back" => crate::operators::inv_back;
        /// `b · a · (1 − a)` (sigmoid's backward, from the saved output `a`).
        SigmoidBack = 8, "sigmoid_back" => crate::operators::sigmoid_back;
        /// `−log(a·b + (a − 1)·(b − 1))`: the course's loss of probability `a` for label `b`
        /// in one op.
        BinaryNll = 9, "binary_nll" => crate::operators::binary_nll;
        /// The derivative of `binary_nll` in `a` (its backward, times the gradient by a `mul`).
        BinaryNllBack = 10, "binary_nll_back" => crate::operators::binary_nll_back;
    }
}

op_table! {
    $
    /// Folds along one dimension: `apply(acc, x)` is one step, from [`ReduceOp::start`].
    enum ReduceOp: "reduce", fn(acc, x), dispatch with_fold {
        /// Sum, starting from 0.
        Sum = 0, "sum" => crate::operators::add;
        /// Product, starting from 1.
        Prod = 1, "prod" => crate::operators::mul;
        /// Logical all: 1.0 when every value is non-zero, starting from 1.
        All = 2, "all" => crate::operators::all_step;
        /// Maximum, starting from −∞ (MiniTorch's `max` reduction, Module 4); a NaN anywhere
        /// gives NaN, in any fold order.
        Max = 3, "max" => |acc: f64, x: f64| if x.is_nan() || x > acc { x } else { acc };
    }
}

impl ReduceOp {
    /// The fold's starting value.
    pub fn start(self) -> f64 {
        match self {
            ReduceOp::Sum => 0.0,
            ReduceOp::Prod | ReduceOp::All => 1.0,
            ReduceOp::Max => f64::NEG_INFINITY,
        }
    }

    /// One fold step: the accumulator combined with the next value (same as `apply`).
    #[inline]
    pub fn fold(self, acc: f64, x: f64) -> f64 {
        self.apply(acc, x)
    }
}
