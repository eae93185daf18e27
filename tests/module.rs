//! Parity with the original `tests/test_module.py` (task 0.4): the module tree, parameter
//! naming and counting, train/eval propagation, forward, Parameter, and the repr.
//!
//! Python registers children and parameters by attribute assignment; here each module lists
//! them explicitly through the [`Module`] trait, in the same order the original assigns them.
//!
//! The original's `test_module_fail_forward` (xfail: calling a bare `Module()` fails because it
//! has no `forward`) has no Rust counterpart: `Module` is a trait, so there is no bare module
//! to instantiate, and `forward` is an inherent method of each concrete module, so calling a
//! forward that does not exist is a compile-time error rather than a runtime failure.

use minitorch::Scalar;
use minitorch::Tensor;
use minitorch::module::{Mode, Module, Parameter, Value};
use proptest::prelude::*;
use std::collections::HashMap;

const VAL_A: f64 = 50.0;
const VAL_B: f64 = 100.0;

fn param(v: f64) -> Parameter {
    Parameter::new(Scalar::new(v))
}

fn value_of(p: &Parameter) -> f64 {
    p.scalar().expect("a scalar parameter").data()
}

fn named(m: &dyn Module) -> HashMap<String, Parameter> {
    m.named_parameters().into_iter().collect()
}

// ---- the stacked demo: ModuleA1 { p1, a: ModuleA2 { p2 }, b: ModuleA3 { c: ModuleA4 { p3 } } }

struct ModuleA1 {
    mode: Mode,
    p1: Parameter,
    #[allow(dead_code)]
    non_param: i32,
    a: ModuleA2,
    b: ModuleA3,
}

struct ModuleA2 {
    mode: Mode,
    p2: Parameter,
}

struct ModuleA3 {
    mode: Mode,
    c: ModuleA4,
}

struct ModuleA4 {
    mode: Mode,
    p3: Parameter,
}

impl ModuleA1 {
    fn new() -> Self {
        ModuleA1 {
            mode: Mode::default(),
            p1: param(5.0),
            non_param: 10,
            a: ModuleA2 {
                mode: Mode::default(),
                p2: param(10.0),
            },
            b: ModuleA3 {
                mode: Mode::default(),
                c: ModuleA4 {
                    mode: Mode::default(),
                    p3: param(15.0),
                },
            },
        }
    }
}

impl Module for ModuleA1 {
    fn mode(&self) -> &Mode {
        &self.mode
    }
    fn own_parameters(&self) -> Vec<(&str, &Parameter)> {
        vec![("p1", &self.p1)]
    }
    fn children(&self) -> Vec<(&str, &dyn Module)> {
        vec![("a", &self.a), ("b", &self.b)]
    }
}

impl Module for ModuleA2 {
    fn mode(&self) -> &Mode {
        &self.mode
    }
    fn own_parameters(&self) -> Vec<(&str, &Parameter)> {
        vec![("p2", &self.p2)]
    }
}

impl Module for ModuleA3 {
    fn mode(&self) -> &Mode {
        &self.mode
    }
    fn children(&self) -> Vec<(&str, &dyn Module)> {
        vec![("c", &self.c)]
    }
}

impl Module for ModuleA4 {
    fn mode(&self) -> &Mode {
        &self.mode
    }
    fn own_parameters(&self) -> Vec<(&str, &Parameter)> {
        vec![("p3", &self.p3)]
    }
}

#[test]
fn test_stacked_demo() {
    let a = ModuleA1::new();
    let names: Vec<String> = a.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["p1", "a.p2", "b.c.p3"]);

    let ps = named(&a);
    assert_eq!(value_of(&ps["p1"]), 5.0);
    assert_eq!(value_of(&ps["a.p2"]), 10.0);
    assert_eq!(value_of(&ps["b.c.p3"]), 15.0);

    // parameters() is the values of named_parameters(), same order.
    let values: Vec<f64> = a.parameters().iter().map(value_of).collect();
    assert_eq!(values, [5.0, 10.0, 15.0]);
}

/// named_parameters hands out shared handles: updating through one is seen by the module.
#[test]
fn test_parameters_are_shared_handles() {
    let a = ModuleA1::new();
    let ps = named(&a);
    ps["b.c.p3"].update(Scalar::new(-1.0)).unwrap();
    assert_eq!(value_of(&a.b.c.p3), -1.0);
    assert_eq!(value_of(&a.parameters()[2]), -1.0);
}

/// modules() returns the direct children only, in registration order.
#[test]
fn test_modules_are_direct_children() {
    let a = ModuleA1::new();
    let kids = a.modules();
    assert_eq!(kids.len(), 2);
    assert_eq!(kids[0].kind(), "ModuleA2");
    assert_eq!(kids[1].kind(), "ModuleA3");
    // b's own child c is not a direct child of the root.
    assert_eq!(kids[1].modules().len(), 1);
    assert_eq!(kids[1].modules()[0].kind(), "ModuleA4");
    assert!(kids[0].modules().is_empty());
}

/// The original's repr: class name, then `(name): child` lines indented two spaces.
#[test]
fn test_describe() {
    let a = ModuleA1::new();
    let expected = "ModuleA1(\n  (a): ModuleA2()\n  (b): ModuleA3(\n    (c): ModuleA4()\n  )\n)";
    assert_eq!(a.describe(), expected);
    assert_eq!(a.a.describe(), "ModuleA2()");
    assert_eq!(a.b.describe(), "ModuleA3(\n  (c): ModuleA4()\n)");
}

// ---- Module1 / Module2 / Module3 of the original ---------------------------------------

struct Module1 {
    mode: Mode,
    module_a: Module2,
    module_b: Module2,
    parameter_a: Parameter,
}

struct Module2 {
    mode: Mode,
    parameter_a: Parameter,
    parameter_b: Parameter,
    #[allow(dead_code)]
    non_parameter: i32,
    module_c: Module3,
    /// Parameters added with dynamic names, like the original's `add_parameter`.
    extra: Vec<(String, Parameter)>,
}

struct Module3 {
    mode: Mode,
    parameter_a: Parameter,
}

impl Module1 {
    fn new(size_a: usize, size_b: usize, val: f64) -> Self {
        Module1 {
            mode: Mode::default(),
            module_a: Module2::new(size_a),
            module_b: Module2::new(size_b),
            parameter_a: param(val),
        }
    }
}

impl Module2 {
    fn new(extra: usize) -> Self {
        let mut m = Module2 {
            mode: Mode::default(),
            parameter_a: param(VAL_A),
            parameter_b: param(VAL_B),
            non_parameter: 10,
            module_c: Module3 {
                mode: Mode::default(),
                parameter_a: param(VAL_A),
            },
            extra: Vec::new(),
        };
        for i in 0..extra {
            m.add_parameter(format!("extra_parameter_{i}"), 0.0);
        }
        m
    }

    /// The original's `add_parameter(k, v)`: creates the Parameter, stores it, returns it.
    fn add_parameter(&mut self, name: String, v: f64) -> Parameter {
        let p = param(v);
        self.extra.push((name, p.clone()));
        p
    }
}

impl Module for Module1 {
    fn mode(&self) -> &Mode {
        &self.mode
    }
    fn own_parameters(&self) -> Vec<(&str, &Parameter)> {
        vec![("parameter_a", &self.parameter_a)]
    }
    fn children(&self) -> Vec<(&str, &dyn Module)> {
        vec![("module_a", &self.module_a), ("module_b", &self.module_b)]
    }
}

impl Module for Module2 {
    fn mode(&self) -> &Mode {
        &self.mode
    }
    fn own_parameters(&self) -> Vec<(&str, &Parameter)> {
        let mut ps = vec![
            ("parameter_a", &self.parameter_a),
            ("parameter_b", &self.parameter_b),
        ];
        ps.extend(self.extra.iter().map(|(n, p)| (n.as_str(), p)));
        ps
    }
    fn children(&self) -> Vec<(&str, &dyn Module)> {
        vec![("module_c", &self.module_c)]
    }
}

impl Module for Module3 {
    fn mode(&self) -> &Mode {
        &self.mode
    }
    fn own_parameters(&self) -> Vec<(&str, &Parameter)> {
        vec![("parameter_a", &self.parameter_a)]
    }
}

/// Every module in the tree, with its own training flag.
fn all_flags(m: &dyn Module) -> Vec<bool> {
    let mut out = vec![m.is_training()];
    for c in m.modules() {
        out.extend(all_flags(c));
    }
    out
}

/// `med_ints` from the original strategies: integers in 1..=20.
fn med_ints() -> impl Strategy<Value = usize> {
    1usize..=20
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn test_module(size_a in med_ints(), size_b in med_ints()) {
        let module = Module2::new(0);
        prop_assert!(module.is_training(), "modules start in training mode");
        module.eval();
        prop_assert!(!module.is_training());
        prop_assert!(!module.module_c.is_training());
        module.train();
        prop_assert!(module.is_training());
        prop_assert!(module.module_c.is_training());
        prop_assert_eq!(module.parameters().len(), 3);

        let module = Module2::new(size_b);
        prop_assert_eq!(module.parameters().len(), size_b + 3);

        let module = Module2::new(size_a);
        let ps = named(&module);
        prop_assert_eq!(value_of(&ps["parameter_a"]), VAL_A);
        prop_assert_eq!(value_of(&ps["parameter_b"]), VAL_B);
        prop_assert_eq!(value_of(&ps["extra_parameter_0"]), 0.0);
        prop_assert_eq!(value_of(&ps["module_c.parameter_a"]), VAL_A);
        // Own parameters (fixed, then added) come before the child's.
        let names: Vec<String> = module.named_parameters().into_iter().map(|(n, _)| n).collect();
        prop_assert_eq!(&names[..2], &["parameter_a".to_string(), "parameter_b".to_string()][..]);
        prop_assert_eq!(names.last().unwrap(), "module_c.parameter_a");
        for (i, name) in names[2..2 + size_a].iter().enumerate() {
            prop_assert_eq!(name, &format!("extra_parameter_{i}"));
        }
    }

    #[test]
    fn test_stacked_module(size_a in med_ints(), size_b in med_ints(), val in -100.0f64..=100.0) {
        let module = Module1::new(size_a, size_b, val);
        module.eval();
        prop_assert!(!module.is_training());
        prop_assert!(!module.module_a.is_training());
        prop_assert!(!module.module_b.is_training());
        prop_assert!(!module.module_a.module_c.is_training());
        prop_assert!(!module.module_b.module_c.is_training());
        prop_assert!(all_flags(&module).iter().all(|t| !t));
        module.train();
        prop_assert!(module.is_training());
        prop_assert!(module.module_a.is_training());
        prop_assert!(module.module_b.is_training());
        prop_assert!(module.module_a.module_c.is_training());
        prop_assert!(module.module_b.module_c.is_training());
        prop_assert!(all_flags(&module).iter().all(|t| *t));

        prop_assert_eq!(module.parameters().len(), 1 + (size_a + 3) + (size_b + 3));

        let ps = named(&module);
        prop_assert_eq!(ps.len(), 1 + (size_a + 3) + (size_b + 3), "names are unique");
        prop_assert_eq!(value_of(&ps["parameter_a"]), val);
        prop_assert_eq!(value_of(&ps["module_a.parameter_a"]), VAL_A);
        prop_assert_eq!(value_of(&ps["module_a.parameter_b"]), VAL_B);
        prop_assert_eq!(value_of(&ps["module_b.parameter_a"]), VAL_A);
        prop_assert_eq!(value_of(&ps["module_b.parameter_b"]), VAL_B);
        prop_assert_eq!(value_of(&ps["module_a.module_c.parameter_a"]), VAL_A);
        prop_assert_eq!(value_of(&ps[&format!("module_b.extra_parameter_{}", size_b - 1)]), 0.0);
    }
}

/// train()/eval() on a subtree reach only that subtree.
#[test]
fn test_eval_subtree_only() {
    let m = ModuleA1::new();
    m.b.eval();
    assert!(m.is_training());
    assert!(m.a.is_training());
    assert!(!m.b.is_training());
    assert!(!m.b.c.is_training());
    m.eval();
    assert_eq!(all_flags(&m), [false, false, false, false]);
    m.train();
    assert_eq!(all_flags(&m), [true, true, true, true]);
}

// ---- forward -----------------------------------------------------------------------------

struct ModuleRun {
    mode: Mode,
}

impl Module for ModuleRun {
    fn mode(&self) -> &Mode {
        &self.mode
    }
}

impl ModuleRun {
    fn forward(&self) -> i32 {
        10
    }
}

/// Python's `mod()` calls `forward`; Rust has no call operator for user types, so a module's
/// forward is an ordinary method.
#[test]
fn test_module_forward() {
    let m = ModuleRun {
        mode: Mode::default(),
    };
    assert_eq!(m.forward(), 10);
    assert!(m.parameters().is_empty());
    assert!(m.modules().is_empty());
    assert_eq!(m.describe(), "ModuleRun()");
}

// ---- Parameter ---------------------------------------------------------------------------

/// The original's MockParam test: Parameter turns on gradient tracking of its value, both on
/// construction and on update. Tensors are the values with a tracking switch here.
#[test]
fn test_parameter() {
    let t = Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3]).unwrap();
    assert!(!t.requires_grad(), "tensors start untracked");
    let q = Parameter::new(t.clone());
    // The handle shares state with `t`, like the original's mock being mutated.
    assert!(t.requires_grad());
    assert!(t.is_leaf());
    let inner = q.tensor().expect("a tensor parameter");
    assert!(inner.requires_grad());
    assert!(inner.is_leaf());
    assert_eq!(inner.to_vec(), [1.0, 2.0, 3.0]);
    // Display delegates to the value.
    assert_eq!(q.to_string(), t.to_string());

    let t2 = Tensor::from_vec(vec![4.0, 5.0], &[2]).unwrap();
    assert!(!t2.requires_grad());
    q.update(t2.clone()).unwrap();
    assert!(t2.requires_grad());
    assert!(t2.is_leaf());
    let inner = q.tensor().unwrap();
    assert!(inner.requires_grad() && inner.is_leaf());
    assert_eq!(inner.to_vec(), [4.0, 5.0]);
    assert!(q.scalar().is_none());
    assert!(matches!(q.value(), Value::Tensor(_)));
}

/// A tensor produced by a function (not a leaf) becomes a fresh leaf inside a Parameter.
#[test]
fn test_parameter_tensor_with_history_becomes_leaf() {
    let a = Tensor::from_vec(vec![1.0, 2.0], &[2])
        .unwrap()
        .requires_grad_(true);
    let b = a.add(&a).unwrap();
    assert!(b.requires_grad() && !b.is_leaf());
    let p = Parameter::new(b);
    let v = p.tensor().unwrap();
    assert!(v.requires_grad());
    assert!(v.is_leaf());
    assert_eq!(v.to_vec(), [2.0, 4.0]);
}

/// Scalar parameters hold tracking leaves too: constants and computed scalars are replaced by a
/// fresh leaf with the same value; a leaf is kept as is.
#[test]
fn test_parameter_scalar_is_leaf() {
    use minitorch::autodiff::Variable;

    let leaf = Scalar::new(3.0);
    let p = Parameter::new(leaf.clone());
    let s = p.scalar().unwrap();
    assert!(s.is_leaf());
    assert_eq!(s.unique_id(), leaf.unique_id(), "a leaf is stored as is");

    p.update(Scalar::constant(7.0)).unwrap();
    let s = p.scalar().unwrap();
    assert!(s.is_leaf() && !s.is_constant());
    assert_eq!(s.data(), 7.0);

    let x = Scalar::new(2.0);
    p.update(&x * &x).unwrap();
    let s = p.scalar().unwrap();
    assert!(s.is_leaf());
    assert_eq!(s.data(), 4.0);
    assert_eq!(p.to_string(), s.to_string());
    assert!(p.tensor().is_none());
}

/// Layers hold typed parameters (`Param<Tensor>`): reading one needs no check, and a
/// parameter never changes kind, so the typed and the untyped handle always agree.
#[test]
fn typed_parameters_keep_their_kind() {
    use minitorch::module::Param;
    let w = Param::new(Tensor::ones(&[2, 2]).unwrap());
    assert!(w.get().is_leaf());
    let err = w
        .parameter()
        .update(Scalar::new(1.0))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "Parameter::update: a parameter keeps its kind: it holds a tensor, not a scalar"
    );
    w.parameter().update(Tensor::zeros(&[3]).unwrap()).unwrap();
    assert_eq!(w.get().shape(), &[3]);
    w.set(Tensor::full(&[1], 2.0).unwrap());
    assert_eq!(w.parameter().tensor().unwrap().to_vec(), vec![2.0]);
    let s = Param::new(Scalar::new(3.0));
    assert_eq!(s.get().data(), 3.0);
    assert!(s.parameter().update(Tensor::zeros(&[1]).unwrap()).is_err());
}
