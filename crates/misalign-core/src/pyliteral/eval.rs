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

    /// Bytes of text plus one per item: bounds what hostile input can make us allocate.
    fn weight(&self) -> usize {
        match self {
            Value::Str(s) => s.len(),
            Value::List(v) | Value::Tuple(v) => v.iter().map(|x| 1 + x.weight()).sum(),
            Value::Dict(d) => d.iter().map(|(k, v)| 1 + k.len() + v.weight()).sum(),
        }
    }
}

/// No value may grow beyond this (a real prompt file is tens of kilobytes).
const MAX_WEIGHT: usize = 16 << 20;

fn err(line: usize, message: impl Into<String>) -> PyError {
    PyError {
        line,
        message: message.into(),
    }
}

pub fn run(statements: &[Stmt]) -> Result<Module, PyError> {
    let mut module = Module::default();
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
        let v = eval(value, &module, &[])?;
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

fn eval(expr: &Expr, module: &Module, locals: &[(String, Value)]) -> Result<Value, PyError> {
    Ok(match expr {
        Expr::Str(s) => Value::Str(s.clone()),
        Expr::Name { name, line } => {
            if let Some((_, v)) = locals.iter().rev().find(|(n, _)| n == name) {
                v.clone()
            } else if let Some(b) = module.get(name) {
                b.value.clone()
            } else {
                return Err(err(
                    *line,
                    format!("`{name}` is not defined; bind it earlier in the file"),
                ));
            }
        }
        Expr::Add { left, right, line } => {
            let (l, r) = (eval(left, module, locals)?, eval(right, module, locals)?);
            if l.weight() + r.weight() > MAX_WEIGHT {
                return Err(err(*line, "the value grows too large (over 16 MiB)"));
            }
            match (l, r) {
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
                        *line,
                        format!("cannot add {} to {}", r.kind(), l.kind()),
                    ))
                }
            }
        }
        Expr::List(items) => Value::List(
            items
                .iter()
                .map(|e| eval(e, module, locals))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Tuple(items) => Value::Tuple(
            items
                .iter()
                .map(|e| eval(e, module, locals))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Dict(pairs) => {
            let mut out: Vec<(String, Value)> = Vec::with_capacity(pairs.len());
            for (k, v, line) in pairs {
                let Value::Str(key) = eval(k, module, locals)? else {
                    return Err(err(*line, "dict keys must be strings"));
                };
                let value = eval(v, module, locals)?;
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
            let items = match eval(iterable, module, locals)? {
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
            for item in items {
                let mut scope = locals.to_vec();
                scope.extend(bind(targets, *unpack, item, *line)?);
                let v = eval(element, module, &scope)?;
                total += 1 + v.weight();
                if total > MAX_WEIGHT {
                    return Err(err(*line, "the value grows too large (over 16 MiB)"));
                }
                out.push(v);
            }
            Value::List(out)
        }
    })
}
