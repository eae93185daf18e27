//! The float forms of the MathTest functions (`minitorch/testing.py`, class `MathTest`),
//! written with the library's operators exactly as the original writes them.

use minitorch::operators as ops;

pub fn neg(a: f64) -> f64 {
    -a
}
pub fn add_constant(a: f64) -> f64 {
    5.0 + a
}
pub fn square(a: f64) -> f64 {
    a * a
}
pub fn cube(a: f64) -> f64 {
    a * a * a
}
pub fn sub_constant(a: f64) -> f64 {
    a - 5.0
}
pub fn mult_constant(a: f64) -> f64 {
    5.0 * a
}
pub fn div(a: f64) -> f64 {
    a / 5.0
}
pub fn inv(a: f64) -> f64 {
    ops::inv(a + 3.5)
}
pub fn sig(a: f64) -> f64 {
    ops::sigmoid(a)
}
pub fn log(a: f64) -> f64 {
    ops::log(a + 100000.0)
}
pub fn relu(a: f64) -> f64 {
    ops::relu(a + 5.5)
}
pub fn exp(a: f64) -> f64 {
    ops::exp(a - 200.0)
}
pub fn explog(a: f64) -> f64 {
    ops::log(a + 100000.0) + ops::exp(a - 200.0)
}
pub fn complex(a: f64) -> f64 {
    ops::log(ops::sigmoid(
        ops::relu(ops::relu(a * 10.0 + 7.0) * 6.0 + 5.0) * 10.0,
    )) / 50.0
}

pub fn add2(a: f64, b: f64) -> f64 {
    a + b
}
pub fn mul2(a: f64, b: f64) -> f64 {
    a * b
}
pub fn div2(a: f64, b: f64) -> f64 {
    a / (b + 5.5)
}
pub fn gt2(a: f64, b: f64) -> f64 {
    ops::lt(b, a + 1.2)
}
pub fn lt2(a: f64, b: f64) -> f64 {
    ops::lt(a + 1.2, b)
}
pub fn eq2(a: f64, b: f64) -> f64 {
    ops::eq(a, b + 5.5)
}
