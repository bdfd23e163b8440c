//! Statements and expressions of the subset, parsed from tokens.
//!
//! A file is a sequence of top-level statements, each either an assignment to one name or
//! to several (`A, B = ...`, unpacking a list or tuple), or a bare string (a docstring).
//! Expressions are string literals (adjacent ones join), names, `+`, parentheses and
//! tuples, lists, dicts, and a list comprehension with one `for` clause.

use super::lexer::{unsupported, Tok, Token};
use super::PyError;

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Str(String),
    Name {
        name: String,
        line: usize,
    },
    /// `first + t1 + t2 ...`, each later term with the line of its `+`. Flat rather than a
    /// nested pair per `+`, so 5,000 terms take no deeper recursion (to evaluate or to
    /// drop) than two.
    Sum {
        first: Box<Expr>,
        rest: Vec<(Expr, usize)>,
    },
    List(Vec<Expr>),
    Tuple(Vec<Expr>),
    Dict(Vec<(Expr, Expr, usize)>),
    /// `[element for targets in iterable]`.
    Comprehension {
        element: Box<Expr>,
        targets: Vec<String>,
        /// `for a, b in` (unpack) rather than `for a in`.
        unpack: bool,
        iterable: Box<Expr>,
        line: usize,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    Assign {
        targets: Vec<String>,
        /// `A, B = ...` (unpack) rather than `A = ...`.
        unpack: bool,
        value: Expr,
        line: usize,
    },
    /// A bare string: a docstring, read and ignored.
    Doc,
}

/// Python's keywords: none of them is a value in the subset.
const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

pub fn parse(tokens: &[Token]) -> Result<Vec<Stmt>, PyError> {
    let mut p = Parser { tokens, pos: 0 };
    let mut out = Vec::new();
    while p.pos < tokens.len() {
        out.push(p.statement()?);
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
}

fn describe(tok: Option<&Tok>) -> String {
    match tok {
        None | Some(Tok::Newline) => "the end of the line".to_string(),
        Some(Tok::Name(n)) => format!("`{n}`"),
        Some(Tok::Str(_)) => "a string".to_string(),
        Some(Tok::Punct(c)) => format!("`{c}`"),
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }

    fn peek_at(&self, ahead: usize) -> Option<&Tok> {
        self.tokens.get(self.pos + ahead).map(|t| &t.tok)
    }

    fn line(&self) -> usize {
        self.tokens
            .get(self.pos)
            .or(self.tokens.last())
            .map_or(1, |t| t.line)
    }

    fn is_punct(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Punct(c))
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Name(n)) if n == w)
    }

    fn expect_punct(&mut self, c: char, context: &str) -> Result<(), PyError> {
        if self.is_punct(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(PyError {
                line: self.line(),
                message: format!("expected `{c}` {context}, found {}", describe(self.peek())),
            })
        }
    }

    fn statement(&mut self) -> Result<Stmt, PyError> {
        let line = self.line();
        // `NAME =` or `NAME, NAME =`: an assignment; anything else must be a docstring.
        if let Some((targets, unpack, len)) = self.target_list_before_equals() {
            self.pos += len + 1;
            let value = self.expr_list()?;
            if self.is_punct('=') {
                return Err(unsupported(
                    self.line(),
                    "a chained assignment `A = B = ...`",
                ));
            }
            self.end_of_statement()?;
            return Ok(Stmt::Assign {
                targets,
                unpack,
                value,
                line,
            });
        }
        let value = self.expr_list()?;
        if self.is_punct('=') {
            return Err(PyError {
                line,
                message: "only names can be assigned to (`NAME = ...` or `NAME, NAME = ...`)"
                    .into(),
            });
        }
        if !matches!(value, Expr::Str(_)) {
            return Err(unsupported(line, "a statement that is not an assignment"));
        }
        self.end_of_statement()?;
        Ok(Stmt::Doc)
    }

    /// Looks ahead for `NAME (, NAME)* [,] =`; returns the names, whether it unpacks, and
    /// how many tokens precede the `=`.
    fn target_list_before_equals(&self) -> Option<(Vec<String>, bool, usize)> {
        let mut names = Vec::new();
        let mut i = 0;
        let mut unpack = false;
        loop {
            match self.peek_at(i)? {
                Tok::Name(n) if !KEYWORDS.contains(&n.as_str()) => names.push(n.clone()),
                _ => return None,
            }
            i += 1;
            match self.peek_at(i)? {
                Tok::Punct('=') => return Some((names, unpack, i)),
                Tok::Punct(',') => {
                    unpack = true;
                    i += 1;
                    if self.peek_at(i)? == &Tok::Punct('=') {
                        return Some((names, unpack, i));
                    }
                }
                _ => return None,
            }
        }
    }

    fn end_of_statement(&mut self) -> Result<(), PyError> {
        match self.peek() {
            Some(Tok::Newline) | None => {
                self.pos += 1;
                Ok(())
            }
            other => Err(PyError {
                line: self.line(),
                message: format!(
                    "expected the end of the statement, found {}",
                    describe(other)
                ),
            }),
        }
    }

    /// `sum (, sum)* [,]`: a tuple when there is a comma.
    fn expr_list(&mut self) -> Result<Expr, PyError> {
        let first = self.sum()?;
        if !self.is_punct(',') {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.is_punct(',') {
            self.pos += 1;
            if self.ends_list() {
                break;
            }
            items.push(self.sum()?);
        }
        Ok(Expr::Tuple(items))
    }

    fn ends_list(&self) -> bool {
        matches!(
            self.peek(),
            None | Some(Tok::Newline | Tok::Punct(')' | ']' | '}' | '='))
        )
    }

    fn sum(&mut self) -> Result<Expr, PyError> {
        let first = self.atom()?;
        let mut rest = Vec::new();
        while self.is_punct('+') {
            let line = self.line();
            self.pos += 1;
            rest.push((self.atom()?, line));
        }
        if rest.is_empty() {
            return Ok(first);
        }
        Ok(Expr::Sum {
            first: Box::new(first),
            rest,
        })
    }

    fn atom(&mut self) -> Result<Expr, PyError> {
        let line = self.line();
        match self.peek().cloned() {
            Some(Tok::Str(s)) => {
                self.pos += 1;
                let mut s = s;
                while let Some(Tok::Str(more)) = self.peek() {
                    s.push_str(more);
                    self.pos += 1;
                }
                Ok(Expr::Str(s))
            }
            Some(Tok::Name(n)) => {
                if KEYWORDS.contains(&n.as_str()) {
                    return Err(unsupported(line, &format!("`{n}`")));
                }
                self.pos += 1;
                if self.is_punct('(') || self.is_punct('[') {
                    return Err(unsupported(line, &format!("calling or indexing `{n}`")));
                }
                Ok(Expr::Name { name: n, line })
            }
            Some(Tok::Punct('(')) => {
                self.pos += 1;
                if self.is_punct(')') {
                    self.pos += 1;
                    return Ok(Expr::Tuple(Vec::new()));
                }
                let inner = self.expr_list()?;
                if self.is_word("for") {
                    return Err(unsupported(self.line(), "a generator expression"));
                }
                self.expect_punct(')', "to close `(`")?;
                Ok(inner)
            }
            Some(Tok::Punct('[')) => {
                self.pos += 1;
                self.list(line)
            }
            Some(Tok::Punct('{')) => {
                self.pos += 1;
                self.dict()
            }
            other => Err(PyError {
                line,
                message: format!("expected a value, found {}", describe(other.as_ref())),
            }),
        }
    }

    /// After `[`: a list or a list comprehension.
    fn list(&mut self, line: usize) -> Result<Expr, PyError> {
        if self.is_punct(']') {
            self.pos += 1;
            return Ok(Expr::List(Vec::new()));
        }
        let first = self.sum()?;
        if self.is_word("for") {
            self.pos += 1;
            let (targets, unpack) = self.for_targets()?;
            if !self.is_word("in") {
                return Err(PyError {
                    line: self.line(),
                    message: format!(
                        "expected `in` after the names of the `for`, found {}",
                        describe(self.peek())
                    ),
                });
            }
            self.pos += 1;
            let iterable = self.sum()?;
            if self.is_word("for") || self.is_word("if") {
                return Err(unsupported(
                    self.line(),
                    "a comprehension with more than one `for` or with an `if`",
                ));
            }
            self.expect_punct(']', "to close the list comprehension")?;
            return Ok(Expr::Comprehension {
                element: Box::new(first),
                targets,
                unpack,
                iterable: Box::new(iterable),
                line,
            });
        }
        let mut items = vec![first];
        while self.is_punct(',') {
            self.pos += 1;
            if self.is_punct(']') {
                break;
            }
            items.push(self.sum()?);
        }
        self.expect_punct(']', "to close the list")?;
        Ok(Expr::List(items))
    }

    /// `a`, `a, b` or `(a, b)` after `for`.
    fn for_targets(&mut self) -> Result<(Vec<String>, bool), PyError> {
        let parenthesised = self.is_punct('(');
        if parenthesised {
            self.pos += 1;
        }
        let mut names = Vec::new();
        let mut unpack = false;
        loop {
            match self.peek() {
                Some(Tok::Name(n)) if !KEYWORDS.contains(&n.as_str()) => {
                    names.push(n.clone());
                    self.pos += 1;
                }
                other => {
                    return Err(PyError {
                        line: self.line(),
                        message: format!("expected a name after `for`, found {}", describe(other)),
                    })
                }
            }
            if !self.is_punct(',') {
                break;
            }
            unpack = true;
            self.pos += 1;
            if self.is_word("in") || self.is_punct(')') {
                break;
            }
        }
        if parenthesised {
            self.expect_punct(')', "to close the names of the `for`")?;
        }
        Ok((names, unpack))
    }

    /// After `{`: a dict of `key: value` pairs.
    fn dict(&mut self) -> Result<Expr, PyError> {
        let mut pairs = Vec::new();
        while !self.is_punct('}') {
            let line = self.line();
            let key = self.sum()?;
            if !self.is_punct(':') {
                return Err(if self.is_punct(',') || self.is_punct('}') {
                    unsupported(line, "a set `{a, b}`")
                } else {
                    PyError {
                        line: self.line(),
                        message: format!(
                            "expected `:` after a dict key, found {}",
                            describe(self.peek())
                        ),
                    }
                });
            }
            self.pos += 1;
            let value = self.sum()?;
            pairs.push((key, value, line));
            if self.is_punct(',') {
                self.pos += 1;
            } else {
                break;
            }
        }
        self.expect_punct('}', "to close the dict")?;
        Ok(Expr::Dict(pairs))
    }
}
