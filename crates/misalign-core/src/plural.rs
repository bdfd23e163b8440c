//! Counts in messages: "1 sample", "2 samples" (never "1 samples").

/// `n` and `noun`, with an `s` unless `n` is 1: `count(1, "sample")` is "1 sample".
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn one_is_singular_and_everything_else_plural() {
        assert_eq!(count(1, "sample"), "1 sample");
        assert_eq!(count(0, "sample"), "0 samples");
        assert_eq!(count(2, "answer"), "2 answers");
        assert_eq!(count(28_800, "call"), "28800 calls");
    }
}
