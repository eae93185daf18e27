//! The Autodiff tab: a scalar expression in `x` and `y` parsed into [`Scalar`] operations, its
//! computation graph with every node's value and derivative, and a check of the leaves'
//! derivatives against central differences (MiniTorch Module 1's graph view).
//!
//! Grammar (usual precedence, left-associative):
//!
//! ```text
//! compare := sum (('<' | '>' | '==') sum)?
//! sum     := product (('+' | '-') product)*
//! product := unary (('*' | '/') unary)*
//! unary   := '-' unary | atom
//! atom    := number | 'x' | 'y' | name '(' compare ')' | '(' compare ')'
//! name    := log | exp | sigmoid | relu | inv | neg
//! ```
//!
//! The maths is all the library's: each operator builds the [`Scalar`] operation it names
//! (`a - b` is `Add(a, Neg(b))` and `a / b` is `Mul(a, Inv(b))`, as in MiniTorch), the
//! derivatives come from each function's `chain_rule` in the library's topological order, the
//! leaves' from [`Scalar::backward`], and the numeric check from [`central_difference`].

use minitorch::Scalar;
use minitorch::autodiff::{Variable, central_difference, topological_sort};
use serde_json::{Value, json};
use std::collections::HashMap;

/// Longest expression accepted, in characters.
pub const MAX_LEN: usize = 400;
/// Deepest nesting of parentheses and unary operators (the parser recurses).
const MAX_DEPTH: usize = 64;
/// Most nodes the graph may have (it is drawn as boxes).
pub const MAX_NODES: usize = 200;
/// Largest |x| and |y|.
pub const MAX_INPUT: f64 = 1e6;
/// The step of the central differences (as `derivative_check`).
const EPSILON: f64 = 1e-6;

/// The functions of one argument, by name.
const FUNCTIONS: [&str; 6] = ["log", "exp", "sigmoid", "relu", "inv", "neg"];

/// A malformed expression: what is wrong and where (a character offset).
#[derive(Debug, PartialEq)]
pub struct ParseError {
    /// The message, naming the offending text.
    pub message: String,
    /// Character offset of the problem in the expression.
    pub at: usize,
}

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A number literal: a constant of the graph.
    Num(f64),
    /// `x` (0) or `y` (1).
    Var(usize),
    /// A function of one argument (`log`, …) or `neg` for unary minus.
    Call(&'static str, Box<Expr>),
    /// `+ - * / < > ==`.
    Bin(char, Box<Expr>, Box<Expr>),
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(f64),
    Name(String),
    Op(char),
    Eq,
    Open,
    Close,
}

fn tokenize(text: &str) -> Result<Vec<(Tok, usize)>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            // An exponent: 1e-3, 2.5E+4.
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    while j < chars.len() && chars[j].is_ascii_digit() {
                        j += 1;
                    }
                    i = j;
                }
            }
            let lit: String = chars[start..i].iter().collect();
            let value = lit
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| ParseError {
                    message: format!("{lit:?} is not a number"),
                    at: start,
                })?;
            out.push((Tok::Num(value), start));
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((Tok::Name(chars[start..i].iter().collect()), start));
            continue;
        }
        let tok = match c {
            '+' | '-' | '*' | '/' | '<' | '>' => Tok::Op(c),
            '(' => Tok::Open,
            ')' => Tok::Close,
            '=' if chars.get(i + 1) == Some(&'=') => {
                i += 1;
                Tok::Eq
            }
            _ => {
                return Err(ParseError {
                    message: format!(
                        "unexpected {c:?}: use numbers, x, y, + - * / < > ==, parentheses and \
                         the functions {}",
                        FUNCTIONS.join(", ")
                    ),
                    at: start,
                });
            }
        };
        i += 1;
        out.push((tok, start));
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }

    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end, |t| t.1)
    }

    fn fail<T>(&self, message: String) -> Result<T, ParseError> {
        Err(ParseError {
            message,
            at: self.at(),
        })
    }

    fn describe(&self) -> String {
        match self.peek() {
            None => "the end of the expression".into(),
            Some(Tok::Num(v)) => format!("the number {v}"),
            Some(Tok::Name(n)) => format!("{n:?}"),
            Some(Tok::Op(c)) => format!("{c:?}"),
            Some(Tok::Eq) => "\"==\"".into(),
            Some(Tok::Open) => "\"(\"".into(),
            Some(Tok::Close) => "\")\"".into(),
        }
    }

    fn nest(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.fail(format!("nested more than {MAX_DEPTH} levels deep"));
        }
        Ok(())
    }

    fn compare(&mut self) -> Result<Expr, ParseError> {
        let lhs = self.sum()?;
        let op = match self.peek() {
            Some(Tok::Op(c @ ('<' | '>'))) => *c,
            Some(Tok::Eq) => '=',
            _ => return Ok(lhs),
        };
        self.pos += 1;
        let rhs = self.sum()?;
        Ok(Expr::Bin(op, Box::new(lhs), Box::new(rhs)))
    }

    fn sum(&mut self) -> Result<Expr, ParseError> {
        let mut lhs = self.product()?;
        while let Some(Tok::Op(c @ ('+' | '-'))) = self.peek() {
            let op = *c;
            self.pos += 1;
            let rhs = self.product()?;
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn product(&mut self) -> Result<Expr, ParseError> {
        let mut lhs = self.unary()?;
        while let Some(Tok::Op(c @ ('*' | '/'))) = self.peek() {
            let op = *c;
            self.pos += 1;
            let rhs = self.unary()?;
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.peek() == Some(&Tok::Op('-')) {
            self.pos += 1;
            self.nest()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Call("neg", Box::new(inner)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, ParseError> {
        let Some(tok) = self.peek().cloned() else {
            return self.fail("the expression ends where a value was expected".into());
        };
        match tok {
            Tok::Num(v) => {
                self.pos += 1;
                Ok(Expr::Num(v))
            }
            Tok::Name(name) if name == "x" || name == "y" => {
                self.pos += 1;
                Ok(Expr::Var(usize::from(name == "y")))
            }
            Tok::Name(name) => {
                let Some(&f) = FUNCTIONS.iter().find(|f| **f == name) else {
                    return self.fail(format!(
                        "unknown name {name:?}: the variables are x and y, the functions {}",
                        FUNCTIONS.join(", ")
                    ));
                };
                self.pos += 1;
                if self.peek() != Some(&Tok::Open) {
                    return self.fail(format!(
                        "expected \"(\" after {f}, found {}",
                        self.describe()
                    ));
                }
                self.pos += 1;
                let arg = self.group()?;
                Ok(Expr::Call(f, Box::new(arg)))
            }
            Tok::Open => {
                self.pos += 1;
                self.group()
            }
            _ => self.fail(format!("expected a value, found {}", self.describe())),
        }
    }

    /// The inside of parentheses whose `(` was just read, and the `)`.
    fn group(&mut self) -> Result<Expr, ParseError> {
        self.nest()?;
        let inner = self.compare()?;
        self.depth -= 1;
        if self.peek() != Some(&Tok::Close) {
            return self.fail(format!("expected \")\", found {}", self.describe()));
        }
        self.pos += 1;
        Ok(inner)
    }
}

/// Parses an expression in `x` and `y`.
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    let len = text.chars().count();
    if len > MAX_LEN {
        return Err(ParseError {
            message: format!("the expression has {len} characters; at most {MAX_LEN}"),
            at: MAX_LEN,
        });
    }
    let toks = tokenize(text)?;
    if toks.is_empty() {
        return Err(ParseError {
            message: "the expression is empty: type one in x and y, like x * y + 2".into(),
            at: 0,
        });
    }
    let mut parser = Parser {
        toks,
        pos: 0,
        end: len,
        depth: 0,
    };
    let expr = parser.compare()?;
    if parser.pos < parser.toks.len() {
        return parser.fail(format!(
            "expected an operator or the end, found {}",
            parser.describe()
        ));
    }
    Ok(expr)
}

impl Expr {
    /// Builds the expression from the library's scalar operations on `vars` (x, y); number
    /// literals are constants.
    pub fn build(&self, vars: &[Scalar; 2]) -> Scalar {
        match self {
            Expr::Num(v) => Scalar::constant(*v),
            Expr::Var(i) => vars[*i].clone(),
            Expr::Call(f, a) => {
                let a = a.build(vars);
                match *f {
                    "log" => a.log(),
                    "exp" => a.exp(),
                    "sigmoid" => a.sigmoid(),
                    "relu" => a.relu(),
                    "inv" => a.inv(),
                    "neg" => -a,
                    other => unreachable!("the parser accepts no function {other}"),
                }
            }
            Expr::Bin(op, a, b) => {
                let (a, b) = (a.build(vars), b.build(vars));
                match op {
                    '+' => a + b,
                    '-' => a - b,
                    '*' => a * b,
                    '/' => a / b,
                    '<' => a.lt(b),
                    '>' => a.gt(b),
                    '=' => a.eq(b),
                    other => unreachable!("the parser accepts no operator {other}"),
                }
            }
        }
    }

    /// The expression's value at constant `x`, `y` (no graph kept for autodiff).
    fn value_at(&self, x: f64, y: f64) -> f64 {
        self.build(&[Scalar::constant(x), Scalar::constant(y)])
            .data()
    }
}

/// A number for JSON: finite numbers as numbers, others as the strings "NaN", "inf", "-inf"
/// (JSON has no such numbers).
pub fn num(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else if v.is_nan() {
        json!("NaN")
    } else if v > 0.0 {
        json!("inf")
    } else {
        json!("-inf")
    }
}

/// What evaluating an expression can refuse (beyond parsing).
#[derive(Debug)]
pub enum EvalError {
    /// The text does not parse.
    Parse(ParseError),
    /// It parses but is too large to draw, or an input is out of range.
    Refused(String),
}

/// The graph, derivatives and check of `text` at (`x`, `y`), as the API's JSON.
pub fn evaluate(text: &str, x: f64, y: f64) -> Result<Value, EvalError> {
    for (name, v) in [("x", x), ("y", y)] {
        if !v.is_finite() || v.abs() > MAX_INPUT {
            let shown = if v.abs() >= MAX_INPUT {
                format!("{v:e}")
            } else {
                v.to_string()
            };
            return Err(EvalError::Refused(format!(
                "{name} {shown}: must be of magnitude at most {MAX_INPUT:e}"
            )));
        }
    }
    let expr = parse(text).map_err(EvalError::Parse)?;
    let vars = [Scalar::new(x), Scalar::new(y)];
    let out = expr.build(&vars);

    // Every node reachable from the output, constants included, each once: a walk of the
    // histories. Ids increase in creation order, so sorting by id puts inputs first.
    let mut nodes: HashMap<u64, Scalar> = HashMap::new();
    let mut todo = vec![out.clone()];
    while let Some(v) = todo.pop() {
        if nodes.insert(v.unique_id(), v.clone()).is_none() {
            if nodes.len() > MAX_NODES {
                return Err(EvalError::Refused(format!(
                    "the graph has more than {MAX_NODES} nodes; shorten the expression"
                )));
            }
            todo.extend(v.history().map(|h| h.inputs.clone()).unwrap_or_default());
        }
    }
    let mut ids: Vec<u64> = nodes.keys().copied().collect();
    ids.sort_unstable();

    // Each node's derivative d out / d node: the library's order (output first) and each
    // function's chain rule, the intermediate derivatives kept for display.
    let mut grads: HashMap<u64, f64> = HashMap::new();
    if !out.is_constant() {
        grads.insert(out.unique_id(), 1.0);
    }
    for v in topological_sort(&out) {
        let d = grads.get(&v.unique_id()).copied().unwrap_or(0.0);
        if v.is_leaf() {
            continue;
        }
        let parents = v.chain_rule(&d).expect("a scalar's chain rule cannot fail");
        for (parent, g) in parents {
            *grads.entry(parent.unique_id()).or_insert(0.0) += g;
        }
    }
    // The leaves' derivatives as the library's backward computes them.
    out.backward();

    let index: HashMap<u64, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let graph: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let v = &nodes[id];
            let (op, label) = match v.history() {
                None => ("const", format!("{}", v.data())),
                Some(h) => match h.last_fn {
                    None if vars[0].unique_id() == *id => ("x", "x".to_string()),
                    None => ("y", "y".to_string()),
                    Some(f) => ("fn", f.name().to_string()),
                },
            };
            let inputs: Vec<usize> = v
                .history()
                .map(|h| h.inputs.iter().map(|p| index[&p.unique_id()]).collect())
                .unwrap_or_default();
            json!({
                "id": i,
                "kind": op,
                "label": label,
                "value": num(v.data()),
                "derivative": if v.is_constant() { Value::Null } else { num(grads.get(id).copied().unwrap_or(0.0)) },
                "inputs": inputs,
            })
        })
        .collect();

    let vals = [x, y];
    let checks: Vec<Value> = ["x", "y"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let used = nodes.contains_key(&vars[i].unique_id());
            let autodiff = vars[i].derivative().unwrap_or(0.0);
            let numeric =
                central_difference(|v: &[f64]| expr.value_at(v[0], v[1]), &vals, i, EPSILON);
            let ok = (autodiff - numeric).abs() <= 1e-2 + 1e-2 * numeric.abs();
            json!({
                "name": name,
                "value": vals[i],
                "used": used,
                "autodiff": num(autodiff),
                "central": num(numeric),
                "ok": ok,
            })
        })
        .collect();

    Ok(json!({
        "expr": text,
        "value": num(out.data()),
        "output": index[&out.unique_id()],
        "nodes": graph,
        "derivatives": checks,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn derivative(v: &Value, name: &str) -> f64 {
        v["derivatives"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == name)
            .unwrap()["autodiff"]
            .as_f64()
            .unwrap()
    }

    #[test]
    fn precedence_and_associativity() {
        let e = parse("1 - 2 - 3 * 4 / 2").unwrap();
        assert_eq!(e.value_at(0.0, 0.0), 1.0 - 2.0 - 3.0 * 4.0 / 2.0);
        assert_eq!(parse("-x * -y").unwrap().value_at(2.0, 3.0), 6.0);
        assert_eq!(parse("(x + 1) * y").unwrap().value_at(2.0, 3.0), 9.0);
        assert_eq!(parse("x < y").unwrap().value_at(1.0, 2.0), 1.0);
        assert_eq!(parse("x > y").unwrap().value_at(1.0, 2.0), 0.0);
        assert_eq!(parse("x == 2").unwrap().value_at(2.0, 0.0), 1.0);
        assert_eq!(parse("1.5e1 + .5").unwrap().value_at(0.0, 0.0), 15.5);
    }

    #[test]
    fn the_course_example_matches_its_derivatives() {
        let (x, y) = (1.5, -0.5);
        let v = evaluate("log(sigmoid(x*y + 2)) / x", x, y).unwrap();
        let s = 1.0 / (1.0 + f64::exp(-(x * y + 2.0)));
        // log is ln(a + 1e-6) in MiniTorch; its derivative 1 / (a + 1e-6).
        let dlog = s * (1.0 - s) / (s + 1e-6);
        let dx = dlog * y / x - (s + 1e-6).ln() / (x * x);
        let dy = dlog;
        assert!((derivative(&v, "x") - dx).abs() < 1e-6, "{v}");
        assert!((derivative(&v, "y") - dy).abs() < 1e-6, "{v}");
        assert!(
            v["derivatives"]
                .as_array()
                .unwrap()
                .iter()
                .all(|d| d["ok"] == true)
        );
        // Leaves x, y and the constant 2; Mul, Add, Sigmoid, Log, Inv, Mul.
        let nodes = v["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 9, "{v}");
        let out = &nodes[v["output"].as_u64().unwrap() as usize];
        assert_eq!(
            (out["label"].as_str(), out["derivative"].as_f64()),
            (Some("Mul"), Some(1.0))
        );
        let two = nodes.iter().find(|n| n["kind"] == "const").unwrap();
        assert_eq!(
            (two["label"].as_str(), &two["derivative"]),
            (Some("2"), &Value::Null)
        );
    }

    #[test]
    fn a_variable_used_twice_sums_its_derivatives() {
        let v = evaluate("x * x + y", 3.0, 1.0).unwrap();
        assert_eq!(derivative(&v, "x"), 6.0);
        assert_eq!(derivative(&v, "y"), 1.0);
        let v = evaluate("x", 3.0, 1.0).unwrap();
        assert_eq!((derivative(&v, "x"), derivative(&v, "y")), (1.0, 0.0));
        assert_eq!(v["derivatives"][1]["used"], false);
        let v = evaluate("2 + 3", 3.0, 1.0).unwrap();
        assert_eq!(v["value"], 5.0);
    }

    #[test]
    fn malformed_expressions_name_the_problem_and_where() {
        for (text, needle, at) in [
            ("", "empty", 0),
            ("x +", "ends where a value", 3),
            ("x +* y", "expected a value, found '*'", 3),
            ("(x + y", "expected \")\"", 6),
            ("x y", "expected an operator", 2),
            ("z * 2", "unknown name \"z\"", 0),
            ("log x", "expected \"(\" after log", 4),
            ("x $ y", "unexpected '$'", 2),
            ("1.2.3", "not a number", 0),
            ("x = y", "unexpected '='", 2),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.message.contains(needle), "{text:?}: {e:?}");
            assert_eq!(e.at, at, "{text:?}: {e:?}");
        }
        let deep = format!("{}x{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(&deep).unwrap_err().message.contains("nested"));
        let long = "x+".repeat(300) + "x";
        assert!(parse(&long).unwrap_err().message.contains("at most"));
        let wide = "-x".repeat(150);
        assert!(matches!(
            evaluate(&wide, 1.0, 1.0),
            Err(EvalError::Refused(_))
        ));
        assert!(matches!(
            evaluate("x", f64::NAN, 1.0),
            Err(EvalError::Refused(_))
        ));
    }

    #[test]
    fn non_finite_values_are_strings() {
        let v = evaluate("inv(x)", 0.0, 0.0).unwrap();
        assert!(v["value"].is_string() || v["value"].is_number(), "{v}");
        assert_eq!(num(f64::NAN), json!("NaN"));
        assert_eq!(num(f64::NEG_INFINITY), json!("-inf"));
    }
}
