//! Printing that never stops misalign: a closed pipe (`misalign status OUT | head -1`) or a
//! closed terminal makes `println!` panic (exit 101), which in `run` would skip classification
//! and the reports. These macros drop what cannot be written instead.

/// `println!` to stdout, ignoring write failures.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `print!` to stdout, ignoring write failures.
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!` to stderr, ignoring write failures.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub(crate) use {note, say, say_raw};
