//! `nas search`: runs or resumes a search and renders its events as progress bars, or as JSON
//! lines with `--json`.

use anyhow::Result;
use clap::{Args, ValueEnum};
use std::time::Duration;

use nas::data::ImageSize;
use nas::pool::broker::BrokerConfig;
use nas::search::{self, Budget, Schedule, SearchConfig, SearchEvent};
use nas::strategy::StrategyKind;

use super::enas::EnasArgs;
use super::interrupt;
use super::report::LiveReport;
use super::search_view::View;
use super::strategy_args::{set, StrategyArgs};

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct SearchArgs {
    /// The search space: a shipped name (`nas space list`) or a path to a .toml file.
    #[arg(long, required_unless_present = "resume")]
    space: Option<String>,
    /// Continue the interrupted search in this run (name under runs/ or path).
    #[arg(long, conflicts_with = "space")]
    resume: Option<String>,
    /// With --resume: use the run's stored copy of a space file that changed since.
    #[arg(long, requires = "resume")]
    force: bool,
    /// reinforce (the LSTM controller), random, evolution, or enas (the controller over
    /// shared weights; cell spaces only).
    #[arg(long, default_value = "reinforce")]
    strategy: StrategyKind,
    /// Candidates to evaluate in all.
    #[arg(long, value_parser = super::values::positive_usize)]
    samples: Option<usize>,
    /// Candidates per strategy update.
    #[arg(long, value_parser = super::values::positive_usize)]
    batch: Option<usize>,
    /// Children trained in parallel (with --broker: workers of this process that join the
    /// queue, 0 for none).
    #[arg(long, value_parser = super::values::count_from_zero::<{ super::values::MAX_THREADS }>)]
    workers: Option<usize>,
    /// Threads per worker (default: the cores shared evenly).
    #[arg(long, value_parser = super::values::count_up_to::<{ super::values::MAX_THREADS }>)]
    threads: Option<usize>,
    /// cpu, or cuda:0[,cuda:1...] with the cuda feature.
    #[arg(long)]
    device: Option<String>,
    /// mnist (shipped), idx:DIR, cifar10:DIR, folder:DIR or synthetic.
    #[arg(long)]
    dataset: Option<String>,
    /// Training epochs per child (with --schedule halving: of the last rung, default 9).
    /// Default: 1, raised on small data sets until a child takes at least 40 SGD steps.
    #[arg(long, value_parser = super::values::positive_usize, conflicts_with_all = ["budget_images", "budget_steps"])]
    epochs: Option<usize>,
    /// A child's budget as images seen instead of epochs (rounded to whole epochs, at least 1).
    #[arg(long, value_parser = super::values::positive_u64, conflicts_with = "budget_steps")]
    budget_images: Option<u64>,
    /// A child's budget as SGD steps instead of epochs (rounded to whole epochs, at least 1).
    #[arg(long, value_parser = super::values::positive_u64)]
    budget_steps: Option<u64>,
    /// plain (every child trains for the whole budget) or halving (asynchronous successive
    /// halving: every child trains --min-epochs, the best 1/eta of each rung train eta times
    /// longer, up to --epochs).
    #[arg(long, value_enum, default_value_t = ScheduleArg::Plain)]
    schedule: ScheduleArg,
    /// Halving: epochs of the first rung.
    #[arg(long, value_parser = super::values::positive_usize, default_value_t = 1)]
    min_epochs: usize,
    /// Halving: the reduction factor between rungs.
    #[arg(long, value_parser = super::values::at_least_two, default_value_t = 3)]
    eta: usize,
    /// Stop starting new training once this many epochs are spent in all (a table
    /// fidelity counts its cost); for comparing schedules at equal cost.
    #[arg(long, value_parser = super::values::positive_f64)]
    epoch_budget: Option<f64>,
    /// After the search, train the best K candidates again from scratch on the whole
    /// training split, and export the best of them (cell spaces; 0 for none).
    #[arg(long, default_value_t = 1)]
    finalists: usize,
    /// Epochs of a finalist's training [default: enough to see 50,000 images, at most 100:
    /// 1 on MNIST, 2 on CIFAR-10, 100 on a folder of 500 photos].
    #[arg(long, value_parser = super::values::positive_usize)]
    final_epochs: Option<usize>,
    /// Training images per child, at most (a deterministic subset).
    #[arg(long, value_parser = super::values::positive_usize)]
    train_size: Option<usize>,
    /// Validation images, at most (a deterministic subset).
    #[arg(long, value_parser = super::values::positive_usize)]
    val_size: Option<usize>,
    /// Fit folder images to N x N or H x W pixels: scale to cover, then crop the centre
    /// [default: the folder's own size, or for mixed sizes the median shorter side, at most 64;
    /// the size used is recorded with the run].
    #[arg(long, value_parser = super::values::image_size, conflicts_with = "resume")]
    image_size: Option<ImageSize>,
    /// Child learning rate.
    #[arg(long, value_parser = super::values::positive_f64)]
    lr: Option<f64>,
    #[arg(long, value_parser = super::values::positive_usize)]
    batch_size: Option<usize>,
    /// Stochastic depth: drop the branch of the deepest residual cell with this probability
    /// in training, shallower ones linearly less (kept with the run).
    #[arg(long, value_name = "RATE", value_parser = super::values::unit_fraction, conflicts_with = "resume")]
    drop_path: Option<f64>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Reject architectures with more parameters, before training.
    #[arg(long, value_parser = super::values::positive_u64)]
    max_params: Option<u64>,
    /// Reject architectures with more multiply-accumulates, before training.
    #[arg(long, value_parser = super::values::positive_u64)]
    max_macs: Option<u64>,
    /// Soft objective: reward = accuracy * (params / N)^-0.07.
    #[arg(long, value_parser = super::values::positive_u64)]
    target_params: Option<u64>,
    /// Keep the trained weights of the best K candidates.
    #[arg(long)]
    keep_top: Option<usize>,
    #[command(flatten)]
    strategy_args: StrategyArgs,
    /// Run name (under runs/) or path; default: SPACE-sSEED-DATE-TIME.
    #[arg(long)]
    run: Option<String>,
    /// JSON lines on stdout: one per finished candidate (and per epoch with enas), then a
    /// summary.
    #[arg(long)]
    json: bool,
    /// Do not keep RUN/report.html up to date while the search runs (`nas report` still
    /// writes it on demand).
    #[arg(long)]
    no_report: bool,
    #[command(flatten, next_help_heading = "Weight sharing (--strategy enas)")]
    enas: EnasArgs,
    /// Coordinate through Redis: children are trained by `nas worker` processes anywhere
    /// (redis://[:PASSWORD@]HOST:PORT[/DB], or rediss:// for TLS).
    #[arg(long, value_name = "URL", help_heading = "Many machines")]
    broker: Option<String>,
    /// With --broker: a job whose worker has not been heard of for this many seconds is
    /// given to another worker.
    #[arg(long, value_parser = super::values::positive_f64, default_value_t = 60.0, requires = "broker", help_heading = "Many machines")]
    reclaim_after: f64,
}

impl SearchArgs {
    fn config(&self, space: &str) -> SearchConfig {
        let mut cfg = SearchConfig {
            space: space.to_string(),
            strategy: self.strategy,
            seed: self.seed,
            ..SearchConfig::default()
        };
        set(&mut cfg.samples, self.samples);
        set(&mut cfg.batch, self.batch);
        set(&mut cfg.workers, self.workers);
        set(&mut cfg.threads_per_worker, self.threads);
        if self.workers.is_none() && self.threads.is_none() {
            cfg.workers = 0; // the search chooses from its children's size
        }
        set(&mut cfg.device, self.device.clone());
        set(&mut cfg.dataset, self.dataset.clone());
        cfg.schedule = self.schedule.schedule(self.min_epochs, self.eta);
        cfg.budget = match (self.epochs, self.budget_images, self.budget_steps) {
            (Some(e), _, _) => Budget::Epochs(e),
            (_, Some(n), _) => Budget::Images(n),
            (_, _, Some(n)) => Budget::Steps(n),
            _ => Budget::Default,
        };
        let halving_default = matches!(cfg.schedule, Schedule::Halving { .. }).then_some(9);
        set(&mut cfg.train.epochs, self.epochs.or(halving_default));
        cfg.epoch_budget = self.epoch_budget;
        cfg.finalists = self.finalists;
        cfg.final_epochs = self.final_epochs.unwrap_or(0);
        set(&mut cfg.train.lr, self.lr);
        set(&mut cfg.train.batch_size, self.batch_size);
        set(&mut cfg.train.drop_path, self.drop_path);
        set(&mut cfg.keep_top, self.keep_top);
        self.strategy_args.apply(&mut cfg.strategy_config);
        self.enas.apply(&mut cfg.strategy_config.enas);
        if self.train_size.is_some() {
            cfg.train_size = self.train_size;
        }
        if self.val_size.is_some() {
            cfg.val_size = self.val_size;
        }
        cfg.image_size = self.image_size;
        cfg.train.seed = self.seed;
        cfg.max_params = self.max_params;
        cfg.max_macs = self.max_macs;
        cfg.target_params = self.target_params;
        cfg.broker = self.broker_config();
        cfg
    }

    /// The broker settings of `--broker`, `--workers` and `--reclaim-after`.
    fn broker_config(&self) -> Option<BrokerConfig> {
        self.broker.as_ref().map(|url| BrokerConfig {
            url: url.clone(),
            local_workers: self.workers,
            reclaim: Duration::from_secs_f64(self.reclaim_after),
        })
    }
}

/// `--schedule` on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(super) enum ScheduleArg {
    Plain,
    Halving,
}

impl ScheduleArg {
    /// The schedule it names, with the halving settings.
    pub(super) fn schedule(self, min_epochs: usize, eta: usize) -> Schedule {
        match self {
            ScheduleArg::Plain => Schedule::Plain,
            ScheduleArg::Halving => Schedule::Halving { min_epochs, eta },
        }
    }
}

/// Runs the command; returns whether the search was interrupted.
pub fn run(args: SearchArgs) -> Result<bool> {
    if args.enas.any() && (args.resume.is_some() || args.strategy != StrategyKind::Enas) {
        anyhow::bail!(
            "--enas-* flags need a new search with --strategy enas (a resumed run keeps its settings)"
        );
    }
    if args.workers == Some(0) && args.broker.is_none() {
        anyhow::bail!(
            "--workers 0 means no local worker, which needs --broker URL (workers elsewhere)"
        );
    }
    if let Some(url) = &args.broker {
        // refused here, before the run folder exists
        nas::pool::broker::check(url)?;
    }
    let stop = interrupt::install()?;
    let mut view = View::new(args.json);
    let mut live: Option<LiveReport> = None;
    let live_report = !args.no_report;
    // The live report is drawn from the store by its own thread: an event only wakes it.
    let mut on = |e: SearchEvent| {
        match &e {
            SearchEvent::Started { run, .. } if live_report && live.is_none() => {
                live = Some(LiveReport::start(run.clone()));
            }
            SearchEvent::CandidateFinished { .. }
            | SearchEvent::Updated { .. }
            | SearchEvent::FinalistFinished { .. } => {
                if let Some(live) = &live {
                    live.changed();
                }
            }
            _ => {}
        }
        view.on(e)
    };
    let summary = match &args.resume {
        Some(run) => {
            let dir = search::run_dir(run);
            let broker = args.broker_config();
            search::resume_with(&dir, args.force, broker, stop, &mut on)?
        }
        None => {
            let space = args.space.clone().unwrap_or_default();
            let cfg = args.config(&space);
            // Refused here, before the run folder exists, rather than when the pool starts.
            nas::pool::parse_devices(&cfg.device)?;
            let name = args
                .run
                .clone()
                .unwrap_or_else(|| search::default_run_name(space_stem(&space), cfg.seed));
            let dir = search::run_dir(&name);
            match args.run {
                Some(_) => search::start(&dir, cfg, stop, &mut on)?,
                None => search::start_unique(&dir, cfg, stop, &mut on)?,
            }
        }
    };
    view.finish(&summary)?;
    if let Some(live) = live {
        // the search's results stand even when its page cannot be written
        match live.finish() {
            Ok(page) if !args.json => eprintln!("report: {}", page.display()),
            Ok(_) => {}
            Err(e) => eprintln!("warning: the report was not written: {e:#}"),
        }
    }
    Ok(summary.interrupted)
}

fn space_stem(space: &str) -> &str {
    std::path::Path::new(space)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("search")
}
