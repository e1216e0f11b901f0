//! `nas finalize RUN [--top K] [--epochs E]`: the finalists of a finished run, trained from
//! scratch on the whole training split, with the best exported.

use anyhow::{bail, Result};
use clap::Args;
use nas::search::{self, Summary};
use serde_json::json;

use super::interrupt;
use super::search_view::View;

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct FinalizeArgs {
    /// The run (name under runs/ or path).
    run: String,
    /// How many of the best candidates to train again [default: the run's --finalists, at
    /// least 1].
    #[arg(long, value_parser = super::values::positive_usize)]
    top: Option<usize>,
    /// Epochs of each finalist's training [default: the run's --final-epochs].
    #[arg(long, value_parser = super::values::positive_usize)]
    epochs: Option<usize>,
    #[arg(long)]
    json: bool,
}

/// Runs the command; returns whether it was interrupted.
pub fn run(args: FinalizeArgs) -> Result<bool> {
    let stop = interrupt::install()?;
    let dir = search::run_dir(&args.run);
    let mut view = View::new(args.json);
    let started = std::time::Instant::now();
    let delivered = search::finalize(&dir, args.top, args.epochs, stop.clone(), &mut |e| {
        view.on(e)
    })?;
    let interrupted = stop.load(std::sync::atomic::Ordering::SeqCst);
    if delivered.is_none() && !interrupted {
        bail!(
            "run {} has no finalist that trained: every finalist failed (see `nas show {}`)",
            dir.display(),
            args.run
        );
    }
    let summary = Summary {
        run: dir.clone(),
        best_id: delivered.as_ref().map(|d| d.id),
        best_reward: delivered.as_ref().map(|d| d.val_acc),
        samples: 0,
        epochs_spent: 0.0,
        seconds: started.elapsed().as_secs_f64(),
        strategy_seconds: 0.0,
        max_record_seconds: 0.0,
        interrupted,
        delivered,
        warning: None,
    };
    if args.json {
        println!(
            "{}",
            json!({"run": dir, "delivered": summary.delivered, "interrupted": interrupted})
        );
        return Ok(interrupted);
    }
    view.finish(&summary)?;
    Ok(interrupted)
}
