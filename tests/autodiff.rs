//! Parity with the original `tests/test_autodiff.py` (tasks 1.3, 1.4): chain_rule on
//! hand-written histories and backpropagation through user-defined functions, plus the
//! topological sort and derivative accumulation rules of spec §3.

use minitorch::Scalar;
use minitorch::autodiff::{Context, Variable, backpropagate, topological_sort};
use minitorch::scalar::{ScalarFunction, ScalarHistory, apply};
use std::collections::HashSet;

/// Function1(x, y) = x + y + 10, backward (d, d).
struct Function1;

impl ScalarFunction for Function1 {
    fn name(&self) -> &'static str {
        "Function1"
    }
    fn forward(&self, _ctx: &mut Context<f64>, inputs: &[f64]) -> f64 {
        inputs[0] + inputs[1] + 10.0
    }
    fn backward(&self, _ctx: &Context<f64>, d: f64) -> Vec<f64> {
        vec![d, d]
    }
}

/// Function2(x, y) = x·y + x, backward (d·(y + 1), d·x).
struct Function2;

impl ScalarFunction for Function2 {
    fn name(&self) -> &'static str {
        "Function2"
    }
    fn forward(&self, ctx: &mut Context<f64>, inputs: &[f64]) -> f64 {
        ctx.save_for_backward([inputs[0], inputs[1]]);
        inputs[0] * inputs[1] + inputs[0]
    }
    fn backward(&self, ctx: &Context<f64>, d: f64) -> Vec<f64> {
        let (x, y) = (ctx.saved_values()[0], ctx.saved_values()[1]);
        vec![d * (y + 1.0), d * x]
    }
}

/// A hand-built history: `last_fn` applied to `inputs` with an empty context.
fn history(f: &'static dyn ScalarFunction, inputs: Vec<Scalar>) -> Option<ScalarHistory> {
    Some(ScalarHistory {
        last_fn: Some(f),
        ctx: Context::new(false),
        inputs,
    })
}

// ---- task 1.3: chain rule ------------------------------------------------------------------

#[test]
fn test_chain_rule1() {
    let x = Scalar::new(0.0);
    let constant = Scalar::with_history(0.0, history(&Function1, vec![x.clone(), x.clone()]));
    let back = constant.chain_rule(&5.0).unwrap();
    assert_eq!(back.len(), 2);
}

#[test]
fn test_chain_rule2() {
    let var = Scalar::with_history(0.0, Some(ScalarHistory::leaf()));
    let constant = Scalar::with_history(0.0, history(&Function1, vec![var.clone(), var.clone()]));
    let back = constant.chain_rule(&5.0).unwrap();
    assert_eq!(back.len(), 2);
    let (variable, deriv) = &back[0];
    assert_eq!(*deriv, 5.0);
    assert_eq!(variable.unique_id(), var.unique_id());
}

/// Constants are ignored and variables get derivatives. The plain number 10 is wrapped as a
/// leaf Scalar (as in the original), so both inputs come back.
#[test]
fn test_chain_rule3() {
    let constant = 10.0;
    let var = Scalar::new(5.0);
    let y = apply(&Function2, &[Scalar::from(constant), var.clone()]);
    let back = y.chain_rule(&5.0).unwrap();
    assert_eq!(back.len(), 2);
    let (variable, deriv) = &back[1];
    assert_eq!(variable.unique_id(), var.unique_id());
    assert_eq!(*deriv, 5.0 * 10.0);
}

#[test]
fn test_chain_rule4() {
    let var1 = Scalar::new(5.0);
    let var2 = Scalar::new(10.0);
    let y = apply(&Function2, &[var1.clone(), var2.clone()]);
    let back = y.chain_rule(&5.0).unwrap();
    assert_eq!(back.len(), 2);
    let (variable, deriv) = &back[0];
    assert_eq!(variable.unique_id(), var1.unique_id());
    assert_eq!(*deriv, 5.0 * (10.0 + 1.0));
    let (variable, deriv) = &back[1];
    assert_eq!(variable.unique_id(), var2.unique_id());
    assert_eq!(*deriv, 5.0 * 5.0);
}

/// A true constant (no history) is dropped from chain_rule's output.
#[test]
fn test_chain_rule_drops_constants() {
    let c = Scalar::constant(10.0);
    let var = Scalar::new(5.0);
    let y = apply(&Function2, &[c.clone(), var.clone()]);
    let back = y.chain_rule(&5.0).unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].0.unique_id(), var.unique_id());
    assert_eq!(back[0].1, 50.0);

    // A leaf has no function: nothing to chain through.
    assert!(var.chain_rule(&1.0).unwrap().is_empty());
}

// ---- task 1.4: backpropagation -------------------------------------------------------------

/// Function1.apply(0, var): the 0 is wrapped as a leaf Scalar.
fn f1(a: impl Into<Scalar>, b: impl Into<Scalar>) -> Scalar {
    apply(&Function1, &[a.into(), b.into()])
}

#[test]
fn test_backprop1() {
    let var = Scalar::new(0.0);
    let var2 = f1(0.0, &var);
    var2.backward_with(5.0);
    assert_eq!(var.derivative(), Some(5.0));
}

#[test]
fn test_backprop2() {
    let var = Scalar::new(0.0);
    let var2 = f1(0.0, &var);
    let var3 = f1(0.0, &var2);
    var3.backward_with(5.0);
    assert_eq!(var.derivative(), Some(5.0));
}

#[test]
fn test_backprop3() {
    let var1 = Scalar::new(0.0);
    let var2 = f1(0.0, &var1);
    let var3 = f1(0.0, &var1);
    let var4 = f1(&var2, &var3);
    var4.backward_with(5.0);
    assert_eq!(var1.derivative(), Some(10.0));
}

#[test]
fn test_backprop4() {
    let var0 = Scalar::new(0.0);
    let var1 = f1(0.0, &var0);
    let var2 = f1(0.0, &var1);
    let var3 = f1(0.0, &var1);
    let var4 = f1(&var2, &var3);
    var4.backward_with(5.0);
    assert_eq!(var0.derivative(), Some(10.0));
}

/// backpropagate() directly, through Function2: d/dx (x·y + x) = y + 1, d/dy = x.
#[test]
fn test_backpropagate_function2() {
    let x = Scalar::new(5.0);
    let y = Scalar::new(10.0);
    let z = apply(&Function2, &[x.clone(), y.clone()]);
    assert_eq!(z.data(), 55.0);
    backpropagate(&z, 5.0).unwrap();
    assert_eq!(x.derivative(), Some(55.0));
    assert_eq!(y.derivative(), Some(25.0));
}

/// Intermediate nodes never hold a derivative; constants never get one.
#[test]
fn test_only_leaves_hold_derivatives() {
    let x = Scalar::new(2.0);
    let c = Scalar::constant(3.0);
    let mid = apply(&Function2, &[x.clone(), c.clone()]); // x·3 + x
    let out = f1(&mid, &mid);
    out.backward();
    assert_eq!(x.derivative(), Some(8.0)); // 2·(c + 1)
    assert_eq!(mid.derivative(), None);
    assert_eq!(out.derivative(), None);
    assert_eq!(c.derivative(), None);
}

// ---- topological sort ----------------------------------------------------------------------

#[test]
fn test_topological_sort_order() {
    let x = Scalar::new(1.0);
    let y = Scalar::new(2.0);
    let c = Scalar::constant(3.0);
    let z = apply(&Function2, &[x.clone(), y.clone()]); // uses x, y
    let w = apply(&Function2, &[z.clone(), c.clone()]); // uses z and a constant
    let out = apply(&Function1, &[w.clone(), x.clone()]); // diamond back to x

    let order = topological_sort(&out);
    let ids: Vec<u64> = order.iter().map(Variable::unique_id).collect();

    // Output first.
    assert_eq!(ids[0], out.unique_id());
    // Each node once, and exactly the non-constant nodes.
    let unique: HashSet<u64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "a node appears twice: {ids:?}");
    let expected: HashSet<u64> = [&out, &w, &z, &x, &y]
        .iter()
        .map(|s| s.unique_id())
        .collect();
    assert_eq!(unique, expected);
    assert!(!unique.contains(&c.unique_id()), "constants are skipped");
    // Leaves last.
    let first_leaf = order.iter().position(Variable::is_leaf).unwrap();
    assert!(order[first_leaf..].iter().all(Variable::is_leaf));
    assert_eq!(order.len() - first_leaf, 2);
    // Every node comes before each of its (non-constant) parents.
    let pos = |id: u64| ids.iter().position(|&i| i == id).unwrap();
    for node in &order {
        for parent in node.parents() {
            if !parent.is_constant() {
                assert!(
                    pos(node.unique_id()) < pos(parent.unique_id()),
                    "node {} sorted after its parent {}",
                    node.unique_id(),
                    parent.unique_id()
                );
            }
        }
    }
}

/// A number mixed into a Scalar expression is wrapped as a leaf (not a constant), so it shows up
/// in the sort and receives a derivative, as in the original.
#[test]
fn test_wrapped_numbers_are_leaves() {
    let x = Scalar::new(2.0);
    let out = &x * 3.0;
    let order = topological_sort(&out);
    assert_eq!(order.len(), 3);
    assert_eq!(order[0].unique_id(), out.unique_id());
    assert!(order[1..].iter().all(Variable::is_leaf));
    out.backward();
    assert_eq!(x.derivative(), Some(3.0));
    let wrapped = order
        .iter()
        .find(|s| s.unique_id() != x.unique_id() && s.is_leaf())
        .unwrap();
    assert_eq!(wrapped.data(), 3.0);
    assert_eq!(wrapped.derivative(), Some(2.0));
}

#[test]
fn test_topological_sort_of_leaf_and_constant() {
    let x = Scalar::new(1.0);
    let order = topological_sort(&x);
    assert_eq!(order.len(), 1);
    assert_eq!(order[0].unique_id(), x.unique_id());

    let c = Scalar::constant(1.0);
    assert!(topological_sort(&c).is_empty());
    // Backpropagating from a constant does nothing and does not fail.
    backpropagate(&c, 1.0).unwrap();
    assert_eq!(c.derivative(), None);
}

/// Scalar fields: fresh scalars are leaves with increasing ids; constants have no history.
#[test]
fn test_variable_protocol() {
    let a = Scalar::new(1.0);
    let b = Scalar::new(2.0);
    assert!(a.is_leaf() && !a.is_constant());
    assert!(b.unique_id() > a.unique_id());
    assert!(a.parents().is_empty());
    assert_eq!(a.derivative(), None);

    let c = Scalar::constant(1.0);
    assert!(c.is_constant() && !c.is_leaf());
    assert!(c.history().is_none());

    let s = apply(&Function1, &[a.clone(), b.clone()]);
    assert!(!s.is_leaf() && !s.is_constant());
    assert_eq!(s.data(), 13.0);
    let parents: Vec<u64> = s.parents().iter().map(Variable::unique_id).collect();
    assert_eq!(parents, [a.unique_id(), b.unique_id()]);
    assert_eq!(s.history().unwrap().last_fn.unwrap().name(), "Function1");

    // accumulate_derivative is for leaves only.
    assert!(s.accumulate_derivative(1.0).is_err());
    assert!(a.accumulate_derivative(1.5).is_ok());
    assert_eq!(a.derivative(), Some(1.5));
}

// ---- accumulation --------------------------------------------------------------------------

/// Leaf derivatives accumulate across backward calls and reset with zero_grad.
#[test]
fn test_derivatives_accumulate_and_reset() {
    let x = Scalar::new(3.0);
    let y = &x * &x; // dy/dx = 6
    y.backward();
    assert_eq!(x.derivative(), Some(6.0));
    y.backward();
    assert_eq!(x.derivative(), Some(12.0));
    y.backward_with(0.5);
    assert_eq!(x.derivative(), Some(15.0));

    x.zero_grad();
    assert_eq!(x.derivative(), None);
    y.backward();
    assert_eq!(x.derivative(), Some(6.0));

    // A second, separate graph over the same leaf adds to it as well.
    let z = apply(&Function1, &[x.clone(), Scalar::constant(1.0)]);
    z.backward_with(4.0);
    assert_eq!(x.derivative(), Some(10.0));
}

/// Context saves values unless no_grad.
#[test]
fn test_context_no_grad() {
    let mut ctx: Context<f64> = Context::new(false);
    assert!(!ctx.no_grad);
    assert!(ctx.saved_values().is_empty());
    ctx.save_for_backward([1.0, 2.0]);
    assert_eq!(ctx.saved_values(), [1.0, 2.0]);

    let mut ctx: Context<f64> = Context::new(true);
    ctx.save_for_backward([1.0, 2.0]);
    assert!(ctx.saved_values().is_empty());
}
