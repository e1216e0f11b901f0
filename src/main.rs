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
            eprintln!("error: {err:#}");
            std::process::exit(EXIT_ERROR);
        }
    }
}
