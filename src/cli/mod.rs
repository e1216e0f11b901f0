//! The command line: clap definitions and the dispatch to one library call per command.
//! Everything here renders; nothing here decides.

mod bench;
mod bench_search;
mod data;
mod enas;
mod export;
mod finalize;
mod interrupt;
mod report;
mod runs;
mod scale;
mod search;
mod search_view;
mod shape;
mod space;
mod strategy_args;
mod table;
mod train;
mod values;
mod worker;
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
    /// Search for an architecture (the main job), or resume an interrupted search.
    Search(Box<search::SearchArgs>),
    /// The runs under runs/: space, strategy, samples done, best reward.
    Runs {
        #[arg(long)]
        json: bool,
    },
    /// A run's settings and its candidates, best first.
    #[command(allow_negative_numbers = true)]
    Show {
        /// Run name (under runs/) or path.
        run: String,
        /// Only the best K candidates.
        #[arg(long, value_parser = values::positive_usize)]
        top: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Trains the best candidates of a finished run again, from scratch, on the whole training
    /// split, and exports the best of them.
    Finalize(finalize::FinalizeArgs),
    /// One self-contained HTML page of one or more runs: progress, accuracy against size,
    /// the controller, the best candidates drawn, failures.
    Report(report::ReportArgs),
    /// Search spaces: list, show, sample.
    #[command(subcommand)]
    Space(space::SpaceCommand),
    /// The classic architectures: list, show.
    #[command(subcommand)]
    Zoo(zoo::ZooCommand),
    /// Trains one network (from the zoo or an architecture file) and evaluates it on the test split.
    Train(train::TrainArgs),
    /// Export a run's best candidates, a zoo net or an architecture file as Rust code.
    Export(export::ExportArgs),
    /// EfficientNet's compound scaling of a candidate or architecture file: depth x1.2^K,
    /// width x1.1^K, resolution x1.15^K.
    Scale(scale::ScaleArgs),
    /// Benchmarks: throughput of the reference nets (`train`), strategies on a table space (`search`).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Trains children for searches started with --broker, on this machine, until Ctrl-C.
    Worker(worker::WorkerArgs),
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
            Command::Search(args) => {
                return Ok(if search::run(*args)? {
                    Exit::Interrupted
                } else {
                    Exit::Ok
                });
            }
            Command::Finalize(args) => {
                return Ok(if finalize::run(args)? {
                    Exit::Interrupted
                } else {
                    Exit::Ok
                });
            }
            Command::Runs { json } => runs::list(json)?,
            Command::Show { run, top, json } => runs::show(&run, top, json)?,
            Command::Report(args) => report::run(args)?,
            Command::Space(cmd) => space::run(cmd)?,
            Command::Zoo(cmd) => zoo::run(cmd)?,
            Command::Train(args) => train::run(args)?,
            Command::Export(args) => export::run(args)?,
            Command::Scale(args) => scale::run(args)?,
            Command::Worker(args) => {
                if worker::run(args)? {
                    return Ok(Exit::Interrupted);
                }
            }
            Command::Bench(cmd) => {
                if bench::run(cmd)? {
                    return Ok(Exit::Interrupted);
                }
            }
        }
        Ok(Exit::Ok)
    }
}
