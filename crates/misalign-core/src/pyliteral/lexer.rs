//! Tokens of the Python subset: names, string literals (every escape form, raw and
//! triple-quoted), the punctuation `= + , : ( ) [ ] { }`, and logical line ends.
//!
//! Follows Python's own line rules: a newline inside brackets or after a backslash does not
//! end a statement; comments run to the end of the line; a statement may not be indented
//! (the subset has no blocks, so any indentation is an error, as Python reports it too).

use super::PyError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    Name(String),
    Str(String),
    /// One of `= + , : ( ) [ ] { }`.
    Punct(char),
    /// End of a logical line (or of the file).
    Newline,
}

/// A token and the 1-based line it starts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub line: usize,
}

/// Brackets deeper than this are refused, so that hostile input cannot exhaust the stack.
pub const MAX_DEPTH: usize = 64;

pub fn tokenize(text: &str) -> Result<Vec<Token>, PyError> {
    Lexer {
        chars: text.chars().collect(),
        pos: 0,
        line: 1,
        open: Vec::new(),
        out: Vec::new(),
    }
    .run()
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    /// The open brackets and their lines, innermost last.
    open: Vec<(char, usize)>,
    out: Vec<Token>,
}

fn err(line: usize, message: impl Into<String>) -> PyError {
    PyError {
        line,
        message: message.into(),
    }
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn push(&mut self, tok: Tok, line: usize) {
        self.out.push(Token { tok, line });
    }

    fn at_line_start(&self) -> bool {
        matches!(
            self.out.last(),
            None | Some(Token {
                tok: Tok::Newline,
                ..
            })
        )
    }

    fn run(mut self) -> Result<Vec<Token>, PyError> {
        // A byte order mark is allowed at the very start, as Python allows it.
        if self.peek(0) == Some('\u{feff}') {
            self.pos += 1;
        }
        while let Some(c) = self.peek(0) {
            match c {
                '\n' => {
                    if self.open.is_empty() && !self.at_line_start() {
                        self.push(Tok::Newline, self.line);
                    }
                    self.line += 1;
                    self.pos += 1;
                }
                ' ' | '\t' | '\x0c' => {
                    if self.open.is_empty() && self.at_line_start() && !self.blank_rest_of_line() {
                        return Err(err(
                            self.line,
                            "unexpected indentation: only top-level assignments are read, so no line may start with spaces",
                        ));
                    }
                    self.pos += 1;
                }
                '#' => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.pos += 1;
                    }
                }
                '\\' => {
                    if self.peek(1) == Some('\n') {
                        self.pos += 2;
                        self.line += 1;
                    } else {
                        return Err(err(
                            self.line,
                            "a backslash outside a string must end the line",
                        ));
                    }
                }
                '\'' | '"' => self.string("")?,
                '(' | '[' | '{' => {
                    self.open.push((c, self.line));
                    if self.open.len() > MAX_DEPTH {
                        return Err(err(
                            self.line,
                            format!("brackets nested deeper than {MAX_DEPTH} levels"),
                        ));
                    }
                    self.push(Tok::Punct(c), self.line);
                    self.pos += 1;
                }
                ')' | ']' | '}' => {
                    let Some((opener, line)) = self.open.pop() else {
                        return Err(err(self.line, format!("`{c}` closes nothing")));
                    };
                    let expected = match opener {
                        '(' => ')',
                        '[' => ']',
                        _ => '}',
                    };
                    if c != expected {
                        return Err(err(
                            self.line,
                            format!("`{c}` does not close the `{opener}` of line {line}"),
                        ));
                    }
                    self.push(Tok::Punct(c), self.line);
                    self.pos += 1;
                }
                '=' | '+' | ',' | ':' => {
                    if c == '=' && self.peek(1) == Some('=') {
                        return Err(unsupported(self.line, "`==`"));
                    }
                    self.push(Tok::Punct(c), self.line);
                    self.pos += 1;
                }
                c if c == '_' || c.is_alphabetic() => self.name_or_prefixed_string()?,
                c if c.is_ascii_digit() => return Err(unsupported(self.line, "a number")),
                c => return Err(unsupported(self.line, &format!("`{}`", c.escape_debug()))),
            }
        }
        if let Some(&(opener, line)) = self.open.last() {
            return Err(err(line, format!("`{opener}` is never closed")));
        }
        if !self.at_line_start() {
            self.push(Tok::Newline, self.line);
        }
        Ok(self.out)
    }

    /// Whether only whitespace (or a comment) follows on this line.
    fn blank_rest_of_line(&self) -> bool {
        self.chars[self.pos..]
            .iter()
            .take_while(|&&c| c != '\n')
            .find(|c| !matches!(c, ' ' | '\t' | '\x0c'))
            .is_none_or(|&c| c == '#')
    }

    fn name_or_prefixed_string(&mut self) -> Result<(), PyError> {
        let start = self.pos;
        while self
            .peek(0)
            .is_some_and(|c| c == '_' || c.is_alphanumeric())
        {
            self.pos += 1;
        }
        let word: String = self.chars[start..self.pos].iter().collect();
        if matches!(self.peek(0), Some('\'' | '"')) {
            let lower = word.to_ascii_lowercase();
            return match lower.as_str() {
                "r" | "u" => self.string(&lower),
                "f" | "rf" | "fr" => Err(unsupported(self.line, "an f-string")),
                "b" | "rb" | "br" => Err(unsupported(self.line, "a bytes literal")),
                _ => Err(err(
                    self.line,
                    format!("`{word}` directly before a quote is not a string prefix"),
                )),
            };
        }
        self.push(Tok::Name(word), self.line);
        Ok(())
    }

    /// A string literal starting at the quote under the cursor.
    fn string(&mut self, prefix: &str) -> Result<(), PyError> {
        let raw = prefix == "r";
        let line = self.line;
        let q = self.peek(0).unwrap_or('"');
        let triple = self.peek(1) == Some(q) && self.peek(2) == Some(q);
        self.pos += if triple { 3 } else { 1 };
        let mut value = String::new();
        loop {
            let Some(c) = self.peek(0) else {
                return Err(err(line, "string literal is never closed"));
            };
            if c == q && (!triple || (self.peek(1) == Some(q) && self.peek(2) == Some(q))) {
                self.pos += if triple { 3 } else { 1 };
                break;
            }
            if c == '\n' {
                if !triple {
                    return Err(err(
                        line,
                        "string literal is not closed on its line (use triple quotes for text over several lines)",
                    ));
                }
                self.line += 1;
            }
            if c == '\\' {
                let Some(next) = self.peek(1) else {
                    return Err(err(line, "string literal is never closed"));
                };
                if raw {
                    // A raw string keeps the backslash, which still protects the next character.
                    value.push('\\');
                    value.push(next);
                    if next == '\n' {
                        self.line += 1;
                    }
                    self.pos += 2;
                } else {
                    self.escape(&mut value)?;
                }
                continue;
            }
            value.push(c);
            self.pos += 1;
        }
        self.push(Tok::Str(value), line);
        Ok(())
    }

    /// One escape sequence (cursor on the backslash), appended to `out`.
    fn escape(&mut self, out: &mut String) -> Result<(), PyError> {
        let line = self.line;
        let c = self.peek(1).unwrap_or('\\');
        self.pos += 2;
        let simple = match c {
            '\n' => {
                self.line += 1;
                return Ok(());
            }
            '\\' => Some('\\'),
            '\'' => Some('\''),
            '"' => Some('"'),
            'a' => Some('\x07'),
            'b' => Some('\x08'),
            'f' => Some('\x0c'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\x0b'),
            _ => None,
        };
        if let Some(s) = simple {
            out.push(s);
            return Ok(());
        }
        match c {
            '0'..='7' => {
                let mut code = c.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match self.peek(0).and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            code = code * 8 + d;
                            self.pos += 1;
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            'x' | 'u' | 'U' => {
                let len = match c {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let digits: String = (0..len).filter_map(|i| self.peek(i)).collect();
                let code = (digits.chars().count() == len
                    && digits.chars().all(|d| d.is_ascii_hexdigit()))
                .then(|| u32::from_str_radix(&digits, 16).ok())
                .flatten()
                .ok_or_else(|| {
                    err(
                        line,
                        format!("`\\{c}` must be followed by {len} hexadecimal digits"),
                    )
                })?;
                self.pos += len;
                let ch = char::from_u32(code).ok_or_else(|| {
                    err(
                        line,
                        format!("`\\{c}{digits}` is not a character misalign can hold (a lone surrogate or beyond U+10FFFF)"),
                    )
                })?;
                out.push(ch);
            }
            'N' => {
                return Err(err(
                    line,
                    "`\\N{...}` (a character by name) is not supported; write the character itself or `\\uXXXX`",
                ))
            }
            other => {
                // Python keeps an unknown escape as written (and only warns).
                out.push('\\');
                out.push(other);
                if other == '\n' {
                    self.line += 1;
                }
            }
        }
        Ok(())
    }
}

pub fn unsupported(line: usize, what: &str) -> PyError {
    err(
        line,
        format!(
            "{what} is outside the Python subset misalign reads (string literals, names bound earlier, `+`, \
             parentheses, lists, tuples, dicts and a list comprehension `[... for a, b in [...]]`)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(src: &str) -> Vec<String> {
        tokenize(src)
            .unwrap()
            .into_iter()
            .filter_map(|t| match t.tok {
                Tok::Str(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn escapes() {
        let got = strings(r#"X = "a\nb\tc\\d\'e\"f\a\b\f\v\r\0\101\x41\u00e9\U0001F600\q" "#);
        assert_eq!(
            got,
            vec!["a\nb\tc\\d'e\"f\x07\x08\x0c\x0b\r\0AAé😀\\q".to_string()]
        );
    }

    #[test]
    fn line_continuation_inside_string() {
        assert_eq!(strings("X = 'ab\\\ncd'\n"), vec!["abcd".to_string()]);
    }

    #[test]
    fn raw_strings_keep_backslashes() {
        assert_eq!(
            strings(r#"X = r"a\nb\"c" + R'\x'"#),
            vec![r#"a\nb\"c"#.to_string(), r"\x".to_string()]
        );
    }

    #[test]
    fn triple_quoted_spans_lines_and_holds_quotes() {
        let toks = tokenize("X = \"\"\"one\n\"two\" ''\nthree\"\"\"\nY = 'z'\n").unwrap();
        assert_eq!(toks[2].tok, Tok::Str("one\n\"two\" ''\nthree".into()));
        assert_eq!(toks[2].line, 1);
        assert_eq!(toks[4].line, 4);
        assert_eq!(strings("X = '''a'b''c'''"), vec!["a'b''c".to_string()]);
    }

    #[test]
    fn newlines_inside_brackets_do_not_end_statements() {
        let toks = tokenize("X = [\n  'a',  # note\n  'b',\n]\n\n# end\n").unwrap();
        let newlines = toks.iter().filter(|t| t.tok == Tok::Newline).count();
        assert_eq!(newlines, 1);
    }

    #[test]
    fn errors_name_the_line() {
        for (src, line, needle) in [
            ("X = 'a'\nY = f'b'\n", 2, "f-string"),
            ("X = b'a'\n", 1, "bytes"),
            ("X = 'abc\n", 1, "not closed on its line"),
            ("X = '''abc\n", 1, "never closed"),
            ("\n\nX = 1\n", 3, "a number"),
            ("X = 'a'.upper()\n", 1, "`.`"),
            ("  X = 'a'\n", 1, "indentation"),
            ("X = '\\x4'\n", 1, "hexadecimal"),
            ("X = '\\N{BULLET}'\n", 1, "by name"),
            ("X = '\\ud800'\n", 1, "surrogate"),
            ("X = ('a'\n", 1, "never closed"),
            ("X = [\n'a')\n", 2, "does not close the `[` of line 1"),
            ("X = 'a')\n", 1, "closes nothing"),
            ("X = 'a' == 'b'\n", 1, "`==`"),
            ("X = 'a' \\ 'b'\n", 1, "backslash"),
        ] {
            let e = tokenize(src).unwrap_err();
            assert_eq!(e.line, line, "{src:?}: {e:?}");
            assert!(e.message.contains(needle), "{src:?}: {}", e.message);
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let src = format!("X = {}", "(".repeat(MAX_DEPTH + 1));
        assert!(tokenize(&src).unwrap_err().message.contains("nested"));
    }
}
