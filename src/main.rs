//! The `nas` binary: parses arguments, runs one command, prints the error chain on failure.

mod cli;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code for bad input and every other error a user can act on.
const EXIT_ERROR: i32 = 2;

fn main() {
    // A write past the file-size limit (`ulimit -f`) must fail with EFBIG, to end the command
    // with an error naming the file, rather than kill the process on the spot.
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to ignore, before any thread starts.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let args = cli::Cli::parse();
    match args.run() {
        Ok(cli::Exit::Ok) => {}
        Ok(cli::Exit::Interrupted) => std::process::exit(cli::EXIT_INTERRUPTED),
        Err(err) => {
            eprintln!("error: {}", one_line(&err));
            std::process::exit(EXIT_ERROR);
        }
    }
}

/// The error and its causes on one line, as `{:#}` prints them, but without a cause that the
/// message before it already quotes (the library's errors name their cause themselves).
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    nas::error::one_line(&line)
}
