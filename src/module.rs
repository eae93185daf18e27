//! Modules and parameters (MiniTorch task 0.4): a tree of modules that own parameters and
//! child modules.
//!
//! A module implements [`Module`] by listing its own parameters and children in registration
//! order and exposing its training flag; names, counts and mode switches come for free:
//!
//! ```
//! use minitorch::module::{Mode, Module, Parameter};
//! use minitorch::Scalar;
//!
//! struct Leaf { mode: Mode, p: Parameter }
//! impl Module for Leaf {
//!     fn mode(&self) -> &Mode { &self.mode }
//!     fn own_parameters(&self) -> Vec<(&str, &Parameter)> { vec![("p", &self.p)] }
//! }
//! struct Root { mode: Mode, w: Parameter, child: Leaf }
//! impl Module for Root {
//!     fn mode(&self) -> &Mode { &self.mode }
//!     fn own_parameters(&self) -> Vec<(&str, &Parameter)> { vec![("w", &self.w)] }
//!     fn children(&self) -> Vec<(&str, &dyn Module)> { vec![("child", &self.child)] }
//! }
//!
//! let root = Root {
//!     mode: Mode::default(),
//!     w: Parameter::new(Scalar::new(1.0)),
//!     child: Leaf { mode: Mode::default(), p: Parameter::new(Scalar::new(2.0)) },
//! };
//! let names: Vec<String> = root.named_parameters().into_iter().map(|(n, _)| n).collect();
//! assert_eq!(names, ["w", "child.p"]);
//! root.eval();
//! assert!(!root.child.mode.is_training());
//! ```

use crate::error::{Error, Result};
use crate::scalar::Scalar;
use crate::tensor::Tensor;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;

/// A module's training flag (true by default). Interior-mutable, so switching a whole tree
/// needs only a shared reference.
#[derive(Debug)]
pub struct Mode(Cell<bool>);

impl Default for Mode {
    fn default() -> Self {
        Mode(Cell::new(true))
    }
}

impl Mode {
    /// True in training mode.
    pub fn is_training(&self) -> bool {
        self.0.get()
    }

    /// Sets the flag.
    pub fn set(&self, training: bool) {
        self.0.set(training);
    }
}

/// A value a parameter can hold.
#[derive(Clone, Debug)]
pub enum Value {
    /// A scalar (Module 1 networks).
    Scalar(Scalar),
    /// A tensor.
    Tensor(Tensor),
}

impl From<Scalar> for Value {
    fn from(s: Scalar) -> Value {
        Value::Scalar(s)
    }
}

impl From<Tensor> for Value {
    fn from(t: Tensor) -> Value {
        Value::Tensor(t)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Scalar(s) => fmt::Display::fmt(s, f),
            Value::Tensor(t) => fmt::Display::fmt(t, f),
        }
    }
}

/// A trainable value. Cloning shares it: the module and an optimizer holding clones see the
/// same updates.
#[derive(Clone, Debug)]
pub struct Parameter(Rc<RefCell<Value>>);

impl Parameter {
    /// Wraps a value, marking it as a gradient-tracking leaf.
    pub fn new(value: impl Into<Value>) -> Parameter {
        Parameter(Rc::new(RefCell::new(as_leaf(value.into()))))
    }

    /// Replaces the value, marking the new one as a gradient-tracking leaf. A parameter keeps
    /// its kind: replacing a scalar with a tensor (or the reverse) is an error, so a typed
    /// [`Param`] can rely on what it holds.
    pub fn update(&self, value: impl Into<Value>) -> Result<()> {
        let value = value.into();
        let mut slot = self.0.borrow_mut();
        if std::mem::discriminant(&*slot) != std::mem::discriminant(&value) {
            return Err(Error::Invalid {
                what: "Parameter::update",
                message: format!(
                    "a parameter keeps its kind: it holds a {}, not a {}",
                    kind_name(&slot),
                    kind_name(&value)
                ),
            });
        }
        *slot = as_leaf(value);
        Ok(())
    }

    /// The current value.
    pub fn value(&self) -> Value {
        self.0.borrow().clone()
    }

    /// The value if it is a tensor.
    pub fn tensor(&self) -> Option<Tensor> {
        match &*self.0.borrow() {
            Value::Tensor(t) => Some(t.clone()),
            Value::Scalar(_) => None,
        }
    }

    /// The value if it is a scalar.
    pub fn scalar(&self) -> Option<Scalar> {
        match &*self.0.borrow() {
            Value::Scalar(s) => Some(s.clone()),
            Value::Tensor(_) => None,
        }
    }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Scalar(_) => "scalar",
        Value::Tensor(_) => "tensor",
    }
}

/// What a typed [`Param`] can hold: [`Tensor`] or [`Scalar`].
pub trait ParamValue: Clone + Into<Value> {
    /// The value, when `v` is of this kind.
    fn from_value(v: &Value) -> Option<Self>;
}

impl ParamValue for Tensor {
    fn from_value(v: &Value) -> Option<Tensor> {
        match v {
            Value::Tensor(t) => Some(t.clone()),
            Value::Scalar(_) => None,
        }
    }
}

impl ParamValue for Scalar {
    fn from_value(v: &Value) -> Option<Scalar> {
        match v {
            Value::Scalar(s) => Some(s.clone()),
            Value::Tensor(_) => None,
        }
    }
}

/// A parameter of a known kind (`Param<Tensor>`, `Param<Scalar>`): what layers hold, so
/// reading it needs no check. It shares its value with the untyped [`Parameter`] that the
/// module tree and the optimizer see ([`Param::parameter`]); since a parameter never changes
/// kind, the two always agree.
///
/// ```
/// use minitorch::module::Param;
/// use minitorch::Tensor;
/// let w = Param::new(Tensor::ones(&[2, 3]).unwrap());
/// assert_eq!(w.get().shape(), &[2, 3]); // a Tensor, no Option
/// assert!(w.parameter().update(minitorch::Scalar::new(1.0)).is_err());
/// ```
#[derive(Clone, Debug)]
pub struct Param<T> {
    inner: Parameter,
    kind: PhantomData<T>,
}

impl<T: ParamValue> Param<T> {
    /// Wraps a value, marking it as a gradient-tracking leaf.
    pub fn new(value: T) -> Param<T> {
        Param {
            inner: Parameter::new(value),
            kind: PhantomData,
        }
    }

    /// The current value.
    pub fn get(&self) -> T {
        // A parameter never changes kind (`Parameter::update` refuses), and `new` made this
        // one a `T`.
        T::from_value(&self.inner.0.borrow()).expect("a Param keeps the kind it was made with")
    }

    /// Replaces the value, marking the new one as a gradient-tracking leaf.
    pub fn set(&self, value: T) {
        *self.inner.0.borrow_mut() = as_leaf(value.into());
    }

    /// The untyped handle (for [`Module::own_parameters`], optimizers and checkpoints).
    pub fn parameter(&self) -> &Parameter {
        &self.inner
    }
}

/// The value as a gradient-tracking leaf: a tensor is marked in place (`requires_grad_(true)`);
/// a scalar that some function produced is replaced by a fresh leaf of the same value.
fn as_leaf(value: Value) -> Value {
    match value {
        Value::Tensor(t) => Value::Tensor(t.requires_grad_(true)),
        Value::Scalar(s) if s.history().is_none_or(|h| h.last_fn.is_some()) => {
            Value::Scalar(Scalar::new(s.data()))
        }
        scalar => scalar,
    }
}

impl fmt::Display for Parameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0.borrow(), f)
    }
}

/// A node of the module tree.
pub trait Module {
    /// This module's training flag.
    fn mode(&self) -> &Mode;

    /// This module's own parameters, in registration order.
    fn own_parameters(&self) -> Vec<(&str, &Parameter)> {
        Vec::new()
    }

    /// This module's direct children, in registration order.
    fn children(&self) -> Vec<(&str, &dyn Module)> {
        Vec::new()
    }

    /// The name shown by [`describe`](Module::describe) (the type's name by default).
    fn kind(&self) -> String {
        let full = std::any::type_name::<Self>();
        full.rsplit("::").next().unwrap_or(full).to_string()
    }

    /// The direct children.
    fn modules(&self) -> Vec<&dyn Module> {
        self.children().into_iter().map(|(_, m)| m).collect()
    }

    /// Every parameter of the tree with its dotted path: own parameters first, then each
    /// child's, prefixed with the child's name (`p1`, `a.p2`, `b.c.p3`).
    fn named_parameters(&self) -> Vec<(String, Parameter)> {
        let mut out: Vec<(String, Parameter)> = self
            .own_parameters()
            .into_iter()
            .map(|(n, p)| (n.to_string(), p.clone()))
            .collect();
        for (child_name, child) in self.children() {
            out.extend(
                child
                    .named_parameters()
                    .into_iter()
                    .map(|(n, p)| (format!("{child_name}.{n}"), p)),
            );
        }
        out
    }

    /// Every parameter of the tree, in the order of [`named_parameters`](Module::named_parameters).
    fn parameters(&self) -> Vec<Parameter> {
        self.named_parameters()
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    }

    /// Puts this module and every descendant in training mode.
    fn train(&self) {
        self.mode().set(true);
        self.children().into_iter().for_each(|(_, c)| c.train());
    }

    /// Puts this module and every descendant in evaluation mode.
    fn eval(&self) {
        self.mode().set(false);
        self.children().into_iter().for_each(|(_, c)| c.eval());
    }

    /// True in training mode.
    fn is_training(&self) -> bool {
        self.mode().is_training()
    }

    /// The original's repr: the kind, then `(name): child` per child, indented two spaces.
    fn describe(&self) -> String {
        let children = self.children();
        if children.is_empty() {
            return format!("{}()", self.kind());
        }
        let mut s = format!("{}(", self.kind());
        for (name, child) in children {
            let body = child.describe().replace('\n', "\n  ");
            s.push_str(&format!("\n  ({name}): {body}"));
        }
        s.push_str("\n)");
        s
    }
}
