//! The `nas` binary: parses arguments, runs one command, prints the error chain on failure.

mod cli;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code for bad input and every other error a user can act on.
const EXIT_ERROR: i32 = 2;

fn main() {
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
