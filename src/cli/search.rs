//! `nas search`: runs or resumes a search and renders its events as progress bars, or as JSON
//! lines with `--json`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use nas::search::{self, SearchConfig, SearchEvent, Summary};
use nas::store::{Candidate, RunView};
use nas::strategy::StrategyKind;
use nas::train::TrainEvent;
use serde_json::json;

use super::interrupt;
use super::runs::top_table;

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
    /// reinforce (the LSTM controller), random or evolution.
    #[arg(long, default_value = "reinforce")]
    strategy: StrategyKind,
    /// Candidates to evaluate in all.
    #[arg(long, value_parser = super::values::positive_usize)]
    samples: Option<usize>,
    /// Candidates per strategy update.
    #[arg(long, value_parser = super::values::positive_usize)]
    batch: Option<usize>,
    /// Children trained in parallel.
    #[arg(long, value_parser = super::values::count_up_to::<{ super::values::MAX_THREADS }>)]
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
    /// Training epochs per child.
    #[arg(long, value_parser = super::values::positive_usize)]
    epochs: Option<usize>,
    /// Training images per child, at most (a deterministic subset).
    #[arg(long, value_parser = super::values::positive_usize)]
    train_size: Option<usize>,
    /// Validation images, at most (a deterministic subset).
    #[arg(long, value_parser = super::values::positive_usize)]
    val_size: Option<usize>,
    /// Child learning rate.
    #[arg(long, value_parser = super::values::positive_f64)]
    lr: Option<f64>,
    #[arg(long, value_parser = super::values::positive_usize)]
    batch_size: Option<usize>,
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
    /// Controller: Adam learning rate (default 1e-3).
    #[arg(long, value_parser = super::values::positive_f64)]
    controller_lr: Option<f64>,
    /// Controller: LSTM hidden size (default 64).
    #[arg(long, value_parser = super::values::count_up_to::<{ nas::controller::MAX_HIDDEN }>)]
    controller_hidden: Option<usize>,
    /// Controller: entropy bonus weight (default 1e-4).
    #[arg(long, value_parser = super::values::non_negative_f64)]
    entropy_weight: Option<f64>,
    /// Controller: decay of the moving-average reward baseline (default 0.95).
    #[arg(long, value_parser = super::values::unit_fraction)]
    baseline_decay: Option<f64>,
    /// Controller: c in the logits c * tanh(l / T) (default 2.5).
    #[arg(long, value_parser = super::values::positive_f64)]
    tanh_c: Option<f64>,
    /// Controller: T in the logits c * tanh(l / T) (default 5).
    #[arg(long, value_parser = super::values::positive_f64)]
    temperature: Option<f64>,
    /// Evolution: population size (default 20).
    #[arg(long, value_parser = super::values::positive_usize)]
    population: Option<usize>,
    /// Evolution: tournament size (default 5).
    #[arg(long, value_parser = super::values::positive_usize)]
    tournament: Option<usize>,
    /// Run name (under runs/) or path; default: SPACE-sSEED-DATE-TIME.
    #[arg(long)]
    run: Option<String>,
    /// JSON lines on stdout: one per finished candidate, then a summary.
    #[arg(long)]
    json: bool,
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
        set(&mut cfg.device, self.device.clone());
        set(&mut cfg.dataset, self.dataset.clone());
        set(&mut cfg.train.epochs, self.epochs);
        set(&mut cfg.train.lr, self.lr);
        set(&mut cfg.train.batch_size, self.batch_size);
        set(&mut cfg.keep_top, self.keep_top);
        let controller = &mut cfg.strategy_config.controller;
        set(&mut controller.lr, self.controller_lr);
        set(&mut controller.hidden, self.controller_hidden);
        set(&mut controller.entropy_weight, self.entropy_weight);
        set(&mut controller.baseline_decay, self.baseline_decay);
        set(&mut controller.tanh_c, self.tanh_c);
        set(&mut controller.temperature, self.temperature);
        let evolution = &mut cfg.strategy_config.evolution;
        set(&mut evolution.population, self.population);
        set(&mut evolution.sample, self.tournament);
        if self.train_size.is_some() {
            cfg.train_size = self.train_size;
        }
        if self.val_size.is_some() {
            cfg.val_size = self.val_size;
        }
        cfg.train.seed = self.seed;
        cfg.max_params = self.max_params;
        cfg.max_macs = self.max_macs;
        cfg.target_params = self.target_params;
        cfg
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// Runs the command; returns whether the search was interrupted.
pub fn run(args: SearchArgs) -> Result<bool> {
    let stop = interrupt::install()?;
    let mut view = View::new(args.json);
    let summary = match &args.resume {
        Some(run) => {
            let dir = search::run_dir(run);
            search::resume(&dir, args.force, stop, &mut |e| view.on(e))?
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
                Some(_) => search::start(&dir, cfg, stop, &mut |e| view.on(e))?,
                None => search::start_unique(&dir, cfg, stop, &mut |e| view.on(e))?,
            }
        }
    };
    view.finish(&summary)?;
    Ok(summary.interrupted)
}

fn space_stem(space: &str) -> &str {
    std::path::Path::new(space)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("search")
}

/// Renders search events: bars on stderr, or JSON lines on stdout.
struct View {
    json: bool,
    multi: MultiProgress,
    main: Option<ProgressBar>,
    workers: Vec<ProgressBar>,
}

impl View {
    fn new(json: bool) -> View {
        View {
            json,
            multi: MultiProgress::new(),
            main: None,
            workers: vec![],
        }
    }

    fn on(&mut self, event: SearchEvent) {
        match event {
            SearchEvent::Started {
                run,
                samples,
                done,
                resumed,
                workers,
            } => self.started(run, samples, done, resumed, workers),
            SearchEvent::CandidateStarted {
                id,
                worker,
                summary,
            } => {
                if let Some(bar) = self.workers.get(worker) {
                    bar.set_prefix(format!("worker {worker}: #{id}"));
                    bar.set_message(summary);
                }
            }
            SearchEvent::Training { id, worker, event } => self.training(id, worker, event),
            SearchEvent::CandidateFinished {
                candidate,
                done,
                best,
            } => self.finished(&candidate, done, best),
            SearchEvent::Updated { .. } => {}
            SearchEvent::Notice { message } => match &self.main {
                Some(_) => {
                    let _ = self.multi.println(format!("note: {message}"));
                }
                None => eprintln!("note: {message}"),
            },
            SearchEvent::Stopping => {
                if let Some(main) = &self.main {
                    main.set_message("stopping: running children finish their batch");
                }
            }
        }
    }

    fn started(
        &mut self,
        run: PathBuf,
        samples: usize,
        done: usize,
        resumed: bool,
        workers: usize,
    ) {
        if self.json {
            return;
        }
        let verb = if resumed { "resuming" } else { "searching" };
        let _ = self.multi.println(format!(
            "{verb}: run {} ({done} of {samples} candidates done)",
            run.display()
        ));
        let main = self.multi.add(ProgressBar::new(samples as u64));
        main.set_style(
            ProgressStyle::with_template(
                "{bar:30} {pos}/{len} candidates  best {msg}  [{elapsed_precise}, eta {eta}]",
            )
            .expect("valid template"),
        );
        main.set_position(done as u64);
        main.set_message("-");
        main.enable_steady_tick(Duration::from_millis(500));
        self.main = Some(main);
        for w in 0..workers {
            let bar = self.multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("  {prefix} {wide_msg}").expect("valid template"),
            );
            bar.set_prefix(format!("worker {w}: idle"));
            self.workers.push(bar);
        }
    }

    fn training(&mut self, id: u64, worker: usize, event: TrainEvent) {
        let Some(bar) = self.workers.get(worker) else {
            return;
        };
        match event {
            TrainEvent::Batch { epoch, batch, batches, loss, images_per_second } => bar.set_prefix(format!(
                "worker {worker}: #{id} epoch {epoch} batch {batch}/{batches} loss {loss:.3} {images_per_second:.0} img/s"
            )),
            TrainEvent::Validated { epoch, val_acc, .. } => {
                bar.set_prefix(format!("worker {worker}: #{id} epoch {epoch} val {:.2}%", val_acc * 100.0))
            }
            _ => {}
        }
    }

    fn finished(&mut self, c: &Candidate, done: usize, best: Option<(u64, f64)>) {
        if self.json {
            println!(
                "{}",
                json!({"id": c.id, "hash": c.hash, "status": c.status, "reward": c.reward, "metrics": c.metrics})
            );
            return;
        }
        if let Some(main) = &self.main {
            main.set_position(done as u64);
            if let Some((id, reward)) = best {
                main.set_message(format!("{reward:.4} (#{id})"));
            }
        }
    }

    fn finish(&mut self, summary: &Summary) -> Result<()> {
        for bar in self.workers.drain(..) {
            bar.finish_and_clear();
        }
        if let Some(main) = self.main.take() {
            main.finish_and_clear();
        }
        if self.json {
            println!(
                "{}",
                json!({"run": summary.run, "best_id": summary.best_id, "best_reward": summary.best_reward,
                       "samples": summary.samples, "seconds": summary.seconds,
                       "strategy_seconds": summary.strategy_seconds,
                       "max_record_seconds": summary.max_record_seconds, "interrupted": summary.interrupted})
            );
        } else {
            self.print_table(summary)?;
        }
        if summary.interrupted {
            eprintln!(
                "interrupted: resume with `nas search --resume {}`",
                summary.run.display()
            );
        }
        Ok(())
    }

    fn print_table(&self, summary: &Summary) -> Result<()> {
        let store = RunView::open(&summary.run)?;
        print!("{}", top_table(&store.candidates(), 10));
        let share = if summary.seconds > 0.0 {
            100.0 * summary.strategy_seconds / summary.seconds
        } else {
            0.0
        };
        println!(
            "{} candidates in {}; {:.1}s wall time, strategy {:.2}s ({share:.1}%)",
            summary.samples,
            summary.run.display(),
            summary.seconds,
            summary.strategy_seconds
        );
        Ok(())
    }
}
