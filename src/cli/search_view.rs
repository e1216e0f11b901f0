//! Rendering a search's events: indicatif bars on stderr, or JSON lines on stdout with
//! `--json`, then the summary (the best candidates, and the model the search delivers).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use nas::data::DataSummary;
use nas::search::{Delivered, SearchEvent, Summary};
use nas::store::{Candidate, RunView};
use nas::train::TrainEvent;
use serde_json::json;

use super::enas::EnasView;
use super::runs::top_table;
use super::table::thousands;

/// Renders search events: bars on stderr, or JSON lines on stdout.
pub struct View {
    json: bool,
    multi: MultiProgress,
    main: Option<ProgressBar>,
    workers: Vec<ProgressBar>,
    /// The data set's summary, repeated in the JSON summary.
    data: Option<DataSummary>,
    enas: EnasView,
}

impl View {
    pub fn new(json: bool) -> View {
        View {
            json,
            multi: MultiProgress::new(),
            main: None,
            workers: vec![],
            data: None,
            enas: EnasView::default(),
        }
    }

    pub fn on(&mut self, event: SearchEvent) {
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
            SearchEvent::FinalistsStarted {
                ids,
                epochs,
                train_images,
            } => self.finalists_started(&ids, epochs, train_images),
            SearchEvent::FinalistFinished { candidate } => self.finalist_finished(&candidate),
            // Printed when the search starts, so that an error in the settings is the first line.
            SearchEvent::DataLoaded(data) => self.data = Some(*data),
            SearchEvent::NotLearning(warning) => self.warn(&warning.message),
            SearchEvent::Enas(event) => self.enas.on(&self.multi, self.json, event),
            SearchEvent::Stopping => {
                if let Some(main) = &self.main {
                    main.set_message("stopping: running children finish their batch");
                }
            }
        }
    }

    /// A warning line on stderr, above the bars when they are drawn (indicatif swallows its
    /// own lines when stderr is not a terminal, and a warning must not be swallowed).
    fn warn(&self, message: &str) {
        let line = format!("warning: {message}");
        if self.main.is_some() && !self.multi.is_hidden() {
            let _ = self.multi.println(line);
        } else {
            eprintln!("{line}");
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
        for line in self.data.iter().flat_map(super::data::lines) {
            eprintln!("{line}");
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
            let mut line = json!({"id": c.id, "hash": c.hash, "status": c.status, "reward": c.reward, "metrics": c.metrics});
            if let Some(rung) = c.rungs.last() {
                line["rung"] = json!(rung.rung);
                line["rungs"] = json!(c.rungs);
            }
            println!("{line}");
            return;
        }
        if let Some(main) = &self.main {
            main.set_position(done as u64);
            if let Some((id, reward)) = best {
                main.set_message(format!("{reward:.4} (#{id})"));
            }
        }
    }

    fn finalists_started(&mut self, ids: &[u64], epochs: usize, train_images: usize) {
        if self.json {
            return;
        }
        let list: Vec<String> = ids.iter().map(|id| format!("#{id}")).collect();
        let line = format!(
            "training {} finalist(s) ({}) from scratch: {epochs} epochs on all {} training images",
            ids.len(),
            list.join(", "),
            thousands(train_images as u64)
        );
        match &self.main {
            Some(main) => {
                main.set_message("finalists");
                let _ = self.multi.println(line);
            }
            None => {
                eprintln!("{line}");
                // `nas finalize` draws no search bars: one line per finalist's training
                for w in self.workers.len()..ids.len() {
                    let bar = self.multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("  {prefix} {wide_msg}")
                            .expect("valid template"),
                    );
                    bar.set_prefix(format!("worker {w}: idle"));
                    bar.enable_steady_tick(Duration::from_millis(500));
                    self.workers.push(bar);
                }
            }
        }
    }

    fn finalist_finished(&mut self, c: &Candidate) {
        let Some(f) = &c.finalist else { return };
        if self.json {
            println!("{}", json!({"finalist": c.id, "hash": c.hash, "result": f}));
            return;
        }
        let line = match &f.reason {
            Some(reason) => format!("finalist #{} failed: {reason}", c.id),
            None => format!(
                "finalist #{}: {:.2}% validation, {:.2}% test after {}",
                c.id,
                f.val_acc * 100.0,
                f.test_acc * 100.0,
                epochs(f.epochs)
            ),
        };
        match &self.main {
            Some(_) => {
                let _ = self.multi.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    pub fn finish(&mut self, summary: &Summary) -> Result<()> {
        self.enas.clear();
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
                       "epochs_spent": summary.epochs_spent,
                       "strategy_seconds": summary.strategy_seconds,
                       "max_record_seconds": summary.max_record_seconds, "interrupted": summary.interrupted,
                       "delivered": summary.delivered, "warning": summary.warning, "data": self.data})
            );
        } else {
            self.print_table(summary)?;
            self.enas.print_summary();
            if let Some(d) = &summary.delivered {
                print_delivered(d);
            }
        }
        if let Some(warning) = &summary.warning {
            self.warn(&warning.message);
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

fn epochs(n: usize) -> String {
    match n {
        1 => "1 epoch".to_string(),
        n => format!("{n} epochs"),
    }
}

/// The line that says what model the search hands out, and where.
fn print_delivered(d: &Delivered) {
    println!(
        "delivered: candidate #{}, {:.2}% test accuracy ({:.2}% validation) after {} on {} training images",
        d.id,
        d.test_acc * 100.0,
        d.val_acc * 100.0,
        epochs(d.epochs),
        thousands(d.train_images as u64)
    );
    println!(
        "  code {}, weights {}, architecture {}",
        d.source.display(),
        d.weights.display(),
        d.arch.display()
    );
}
