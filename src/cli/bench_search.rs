//! `nas bench search`: strategies compared on a table space over budgets and seeds; a table of
//! the metric's mean ± std and the mean rank per strategy and budget, or JSON.

use std::time::Duration;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use nas::bench::search::{compare, CompareConfig, CompareEvent, Comparison};
use nas::search::SearchConfig;
use nas::space::Space;
use nas::strategy::StrategyKind;

use super::interrupt;
use super::search::ScheduleArg;
use super::strategy_args::{set, StrategyArgs};
use super::table::{print_json, render, thousands};
use super::values;

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct SearchBenchArgs {
    /// A table space: a shipped name (`nas space list`) or a path to a .toml file.
    #[arg(long)]
    space: String,
    /// Strategies to compare, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "reinforce,random,evolution"
    )]
    strategies: Vec<StrategyKind>,
    /// Budgets: samples per search, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "50,150,300", value_parser = values::positive_usize)]
    samples: Vec<usize>,
    /// Searches per strategy and budget, seeded 0, 1, ...
    #[arg(long, default_value_t = 20, value_parser = values::positive_u64)]
    seeds: u64,
    /// The table column that scores a search (default: the space's reward column).
    #[arg(long)]
    metric: Option<String>,
    /// Candidates per strategy update, as in `nas search`.
    #[arg(long, value_parser = values::positive_usize)]
    batch: Option<usize>,
    /// plain (every candidate measured by the reward column) or halving (successive halving
    /// over the space's `[[fidelity]]` columns, cheapest first), as in `nas search`.
    #[arg(long, value_enum, default_value_t = ScheduleArg::Plain)]
    schedule: ScheduleArg,
    /// Halving: the reduction factor between rungs.
    #[arg(long, value_parser = values::at_least_two, default_value_t = 3)]
    eta: usize,
    #[command(flatten)]
    strategy_args: StrategyArgs,
    #[arg(long)]
    json: bool,
}

/// Runs the comparison; returns whether Ctrl-C cut it short.
pub fn run(args: SearchBenchArgs) -> Result<bool> {
    let stop = interrupt::install()?;
    let space = Space::load(&args.space)?;
    let mut settings = SearchConfig {
        space: args.space.clone(),
        ..SearchConfig::default()
    };
    set(&mut settings.batch, args.batch);
    settings.schedule = args.schedule.schedule(1, args.eta);
    args.strategy_args.apply(&mut settings.strategy_config);
    let cfg = CompareConfig {
        strategies: args.strategies.clone(),
        budgets: args.samples.clone(),
        seeds: args.seeds,
        metric: args.metric.clone(),
        settings,
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} searches  [{elapsed_precise}, eta {eta}]",
        )
        .expect("valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(500));
    let comparison = compare(&space, &cfg, &stop, &|event| match event {
        CompareEvent::Started { jobs } => bar.set_length(jobs as u64),
        CompareEvent::Finished { done, .. } => bar.set_position(done as u64),
    });
    bar.finish_and_clear();
    let comparison = comparison?;
    if args.json {
        print_json(&comparison)?;
    } else {
        print_table(&comparison);
    }
    if comparison.interrupted {
        eprintln!("interrupted: the rows hold the searches that finished");
    }
    Ok(comparison.interrupted)
}

fn print_table(c: &Comparison) {
    let rows: Vec<Vec<String>> = c
        .rows
        .iter()
        .map(|r| {
            vec![
                r.strategy.to_string(),
                r.budget.to_string(),
                r.runs.to_string(),
                format!("{:.2} ± {:.2}", r.mean, r.std),
                format!("{:.1}", r.mean_rank),
                format!("{:.1}", r.mean_distinct),
            ]
        })
        .collect();
    let score = format!("{} (MEAN ± STD)", c.metric.to_uppercase());
    let header = [
        "STRATEGY",
        "SAMPLES",
        "SEEDS",
        score.as_str(),
        "MEAN RANK",
        "DISTINCT",
    ];
    print!("{}", render(&header, &rows));
    let best = c.table_best.map_or("-".into(), |b| format!("{b:.2}"));
    println!(
        "{}: reward {}, scored by the {} of the best-rewarded candidate; rank among {} rows (the best has {best}); batch {}",
        c.space,
        c.reward,
        c.metric,
        thousands(c.table_rows as u64),
        c.batch
    );
}
