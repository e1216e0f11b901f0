//! The command line: clap definitions and the dispatch to one library call per command.
//! Everything here renders; nothing here decides.

mod export;
mod interrupt;
mod shape;
mod space;
mod table;
mod zoo;

use anyhow::Result;
use clap::{Parser, Subcommand};

pub use interrupt::EXIT_INTERRUPTED;

/// Neural architecture search: searches, trains, remembers and exports CNNs.
#[derive(Parser, Debug)]
#[command(name = "nas", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Search spaces: list, show, sample.
    #[command(subcommand)]
    Space(space::SpaceCommand),
    /// The classic architectures: list, show.
    #[command(subcommand)]
    Zoo(zoo::ZooCommand),
    /// Export a run's best candidates, a zoo net or an architecture file as Rust code.
    Export(export::ExportArgs),
}

/// What a finished command asks the process to exit with.
pub enum Exit {
    Ok,
    Interrupted,
}

impl Cli {
    /// Runs the chosen command.
    pub fn run(self) -> Result<Exit> {
        match self.command {
            Command::Space(cmd) => space::run(cmd)?,
            Command::Zoo(cmd) => zoo::run(cmd)?,
            Command::Export(args) => export::run(args)?,
        }
        Ok(Exit::Ok)
    }
}
