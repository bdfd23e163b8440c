//! Fills a results folder with synthetic samples for the report benchmark:
//! `cargo run --release -p misalign-report --example fill_store -- OUT MODELS CONDITIONS SAMPLES [ANSWER_BYTES]`

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        eprintln!("usage: fill_store OUT MODELS CONDITIONS SAMPLES [ANSWER_BYTES]");
        std::process::exit(2);
    }
    let num = |i: usize, what: &str| -> usize {
        args[i].parse().unwrap_or_else(|_| {
            eprintln!("{what} must be a whole number, got {:?}", args[i]);
            std::process::exit(2)
        })
    };
    let bytes = if args.len() > 4 {
        num(4, "ANSWER_BYTES")
    } else {
        1500
    };
    let out = std::path::Path::new(&args[0]);
    match misalign_store::testdata::fill_synthetic(
        out,
        num(1, "MODELS"),
        num(2, "CONDITIONS"),
        num(3, "SAMPLES") as u32,
        bytes,
    ) {
        Ok(run) => println!("filled {} (run {run})", out.display()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1)
        }
    }
}
