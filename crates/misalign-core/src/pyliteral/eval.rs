//! Evaluating parsed statements into values: names resolve to earlier bindings (or, inside
//! a comprehension, to its loop names first), `+` joins values of the same kind.

use super::parser::{Expr, Stmt};
use super::{Binding, Module, PyError};

/// A value of the subset.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(String),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// String keys in first-insertion order (a repeated key replaces the value in place).
    Dict(Vec<(String, Value)>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::List(_) => "a list",
            Value::Tuple(_) => "a tuple",
            Value::Dict(_) => "a dict",
        }
    }

    /// Bytes of text plus [`ITEM`] per item: bounds what hostile input can make us allocate.
    fn weight(&self) -> usize {
        match self {
            Value::Str(s) => s.len(),
            Value::List(v) | Value::Tuple(v) => v
                .iter()
                .fold(0usize, |n, x| n.saturating_add(ITEM + x.weight())),
            Value::Dict(d) => d.iter().fold(0usize, |n, (k, v)| {
                n.saturating_add(ITEM + k.len() + v.weight())
            }),
        }
    }
}

/// No value may grow beyond this (a real prompt file is tens of kilobytes).
const MAX_WEIGHT: usize = 16 << 20;

/// Everything built while reading one file may weigh at most this, every copy of a name
/// counted: `T1 = (T0, T0)`, `T2 = (T1, T1)`, ... doubles with each line without any `+`,
/// and must stop long before it takes the memory.
const MAX_TOTAL: usize = 64 << 20;

/// What one item of a list, tuple or dict weighs besides its contents (about its size in
/// memory).
const ITEM: usize = std::mem::size_of::<Value>();

fn err(line: usize, message: impl Into<String>) -> PyError {
    PyError {
        line,
        message: message.into(),
    }
}

fn too_large(line: usize) -> PyError {
    err(line, "the value grows too large (over 16 MiB)")
}

/// What evaluating the file has built so far (see [`MAX_TOTAL`]).
struct Spent(usize);

impl Spent {
    fn charge(&mut self, weight: usize, line: usize) -> Result<(), PyError> {
        self.0 = self.0.saturating_add(weight);
        if self.0 > MAX_TOTAL {
            return Err(err(
                line,
                "the file builds more than 64 MiB of values (names copied into ever larger \
                 values?); a prompt file holds tens of kilobytes of text",
            ));
        }
        Ok(())
    }
}

pub fn run(statements: &[Stmt]) -> Result<Module, PyError> {
    let mut module = Module::default();
    let mut spent = Spent(0);
    for stmt in statements {
        let Stmt::Assign {
            targets,
            unpack,
            value,
            line,
        } = stmt
        else {
            continue;
        };
        let v = eval(value, &module, &[], &mut spent, *line)?;
        for (name, v) in bind(targets, *unpack, v, *line)? {
            module.names.insert(
                name,
                Binding {
                    value: v,
                    line: *line,
                },
            );
        }
    }
    Ok(module)
}

/// Pairs `targets` with `value` (unpacking a list or tuple when `unpack`).
fn bind(
    targets: &[String],
    unpack: bool,
    value: Value,
    line: usize,
) -> Result<Vec<(String, Value)>, PyError> {
    if !unpack {
        return Ok(vec![(targets[0].clone(), value)]);
    }
    let items = match value {
        Value::List(v) | Value::Tuple(v) => v,
        other => {
            return Err(err(
                line,
                format!(
                    "{} cannot be unpacked into {} names; the right side must be a list or tuple of {} values",
                    other.kind(),
                    targets.len(),
                    targets.len()
                ),
            ))
        }
    };
    if items.len() != targets.len() {
        return Err(err(
            line,
            format!(
                "cannot unpack {} value(s) into {} names ({})",
                items.len(),
                targets.len(),
                targets.join(", ")
            ),
        ));
    }
    Ok(targets.iter().cloned().zip(items).collect())
}

/// Adds `r` to `l` (`+`), both already evaluated.
fn add(l: Value, r: Value, line: usize) -> Result<Value, PyError> {
    Ok(match (l, r) {
        (Value::Str(mut a), Value::Str(b)) => {
            a.push_str(&b);
            Value::Str(a)
        }
        (Value::List(mut a), Value::List(b)) => {
            a.extend(b);
            Value::List(a)
        }
        (Value::Tuple(mut a), Value::Tuple(b)) => {
            a.extend(b);
            Value::Tuple(a)
        }
        (l, r) => {
            return Err(err(
                line,
                format!("cannot add {} to {}", r.kind(), l.kind()),
            ))
        }
    })
}

/// Evaluates `expr`; `line` is the statement's, for errors of parts that carry none. Every
/// value built is charged to `spent`. Recursion follows brackets only (at most
/// `lexer::MAX_DEPTH` deep); a chain of `+` is a loop.
fn eval(
    expr: &Expr,
    module: &Module,
    locals: &[(String, Value)],
    spent: &mut Spent,
    line: usize,
) -> Result<Value, PyError> {
    Ok(match expr {
        Expr::Str(s) => {
            spent.charge(s.len(), line)?;
            Value::Str(s.clone())
        }
        Expr::Name { name, line } => {
            let v = if let Some((_, v)) = locals.iter().rev().find(|(n, _)| n == name) {
                v
            } else if let Some(b) = module.get(name) {
                &b.value
            } else {
                return Err(err(
                    *line,
                    format!("`{name}` is not defined; bind it earlier in the file"),
                ));
            };
            // A copy costs what it copies (charged before it is made).
            spent.charge(v.weight(), *line)?;
            v.clone()
        }
        Expr::Sum { first, rest } => {
            let mut acc = eval(first, module, locals, spent, line)?;
            let mut weight = acc.weight();
            for (term, plus_line) in rest {
                let r = eval(term, module, locals, spent, *plus_line)?;
                weight = weight.saturating_add(r.weight());
                if weight > MAX_WEIGHT {
                    return Err(too_large(*plus_line));
                }
                acc = add(acc, r, *plus_line)?;
            }
            acc
        }
        Expr::List(items) => Value::List(eval_items(items, module, locals, spent, line)?),
        Expr::Tuple(items) => Value::Tuple(eval_items(items, module, locals, spent, line)?),
        Expr::Dict(pairs) => {
            let mut out: Vec<(String, Value)> = Vec::with_capacity(pairs.len());
            for (k, v, line) in pairs {
                let Value::Str(key) = eval(k, module, locals, spent, *line)? else {
                    return Err(err(*line, "dict keys must be strings"));
                };
                let value = eval(v, module, locals, spent, *line)?;
                spent.charge(ITEM, *line)?;
                match out.iter_mut().find(|(existing, _)| *existing == key) {
                    Some(slot) => slot.1 = value,
                    None => out.push((key, value)),
                }
            }
            Value::Dict(out)
        }
        Expr::Comprehension {
            element,
            targets,
            unpack,
            iterable,
            line,
        } => {
            let items = match eval(iterable, module, locals, spent, *line)? {
                Value::List(v) | Value::Tuple(v) => v,
                other => {
                    return Err(err(
                        *line,
                        format!(
                            "the comprehension must iterate over a list or tuple, not {} (to iterate over a string's characters is outside the subset)",
                            other.kind()
                        ),
                    ))
                }
            };
            let mut out = Vec::with_capacity(items.len());
            let mut total = 0usize;
            let locals_weight: usize = locals.iter().map(|(_, v)| v.weight()).sum();
            for item in items {
                spent.charge(locals_weight + ITEM, *line)?;
                let mut scope = locals.to_vec();
                scope.extend(bind(targets, *unpack, item, *line)?);
                let v = eval(element, module, &scope, spent, *line)?;
                total = total.saturating_add(ITEM + v.weight());
                if total > MAX_WEIGHT {
                    return Err(too_large(*line));
                }
                out.push(v);
            }
            Value::List(out)
        }
    })
}

fn eval_items(
    items: &[Expr],
    module: &Module,
    locals: &[(String, Value)],
    spent: &mut Spent,
    line: usize,
) -> Result<Vec<Value>, PyError> {
    let mut out = Vec::with_capacity(items.len());
    for e in items {
        let v = eval(e, module, locals, spent, line)?;
        spent.charge(ITEM, line)?;
        out.push(v);
    }
    Ok(out)
}
