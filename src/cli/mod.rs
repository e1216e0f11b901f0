//! The command line: clap definitions and the dispatch to one library call per command.
//! Everything here renders; nothing here decides.

mod space;
mod table;
mod train;

use anyhow::Result;
use clap::{Parser, Subcommand};

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
    /// Trains one network (from the zoo or an architecture file) and evaluates it on the test split.
    Train(train::TrainArgs),
}

impl Cli {
    /// Runs the chosen command.
    pub fn run(self) -> Result<()> {
        match self.command {
            Command::Space(cmd) => space::run(cmd),
            Command::Train(args) => train::run(args),
        }
    }
}
