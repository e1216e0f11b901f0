//! `nas report RUN [RUN...]`: writes the runs' HTML report (atomically), and `LiveReport`,
//! which keeps `runs/RUN/report.html` up to date while `nas search` runs. The live page is
//! rendered on its own thread from a `RunView` of the store, so the search loop only sends a
//! wake-up and never waits for a render.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use nas::atomic_file::write_atomic;
use nas::report::{render, Report};
use nas::search::run_dir;
use nas::store::RunView;
use serde_json::json;

/// The report's file name inside a run folder.
pub const REPORT_FILE: &str = "report.html";

/// The shortest time between two live rewrites.
const LIVE_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Runs (names under runs/ or paths); several runs share one page, one colour each.
    #[arg(required = true)]
    runs: Vec<String>,
    /// The HTML file to write [default: RUN/report.html for one run, report.html for several].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Best candidates shown in detail per run.
    #[arg(long, default_value_t = 5, value_parser = super::values::positive_usize)]
    top: usize,
    /// Also print what the page shows as one JSON document on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ReportArgs) -> Result<()> {
    let dirs: Vec<PathBuf> = args.runs.iter().map(|r| run_dir(r)).collect();
    let out = match (&args.out, dirs.as_slice()) {
        (Some(out), _) => out.clone(),
        (None, [one]) => one.join(REPORT_FILE),
        (None, _) => PathBuf::from(REPORT_FILE),
    };
    let report = write_report(&dirs, &out, args.top)?;
    if args.json {
        super::table::print_json(&json!({"out": out, "report": report}))?;
    } else {
        let running = report
            .running()
            .then_some(" (reloads while the search runs)");
        println!("wrote {}{}", out.display(), running.unwrap_or_default());
    }
    Ok(())
}

/// Reads the runs in `dirs`, renders their page and writes it to `out` whole or not at all.
pub fn write_report(dirs: &[PathBuf], out: &Path, top: usize) -> Result<Report> {
    let views = dirs
        .iter()
        .map(|d| RunView::open(d))
        .collect::<nas::Result<Vec<_>>>()?;
    let report = Report::gather(&views, top);
    let page =
        render(&report).with_context(|| format!("rendering the report of {}", out.display()))?;
    write_atomic(out, page.as_bytes())?;
    Ok(report)
}

/// Keeps a running search's `report.html` current: after a candidate finishes, at most every
/// `LIVE_INTERVAL`, on a thread of its own; `finish` writes the final page (without reload).
pub struct LiveReport {
    run: PathBuf,
    wake: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl LiveReport {
    /// Starts keeping `run`'s report current.
    pub fn start(run: PathBuf) -> LiveReport {
        let (wake, rx) = mpsc::channel();
        let dir = run.clone();
        let thread = std::thread::Builder::new()
            .name("live-report".into())
            .spawn(move || live_loop(&dir, rx))
            .ok();
        LiveReport {
            run,
            wake: Some(wake),
            thread,
        }
    }

    /// Something new is in the store: the page will be rewritten soon.
    pub fn changed(&self) {
        if let Some(wake) = &self.wake {
            let _ = wake.send(());
        }
    }

    /// Stops the thread and writes the final page; returns its path.
    pub fn finish(mut self) -> Result<PathBuf> {
        self.wake = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let out = self.run.join(REPORT_FILE);
        write_report(std::slice::from_ref(&self.run), &out, 5)?;
        Ok(out)
    }
}

/// Renders after each wake-up, no sooner than `LIVE_INTERVAL` after the last render; wake-ups
/// that arrive meanwhile are folded into one. Ends when the sender is dropped.
fn live_loop(run: &Path, rx: Receiver<()>) {
    let out = run.join(REPORT_FILE);
    let mut last: Option<Instant> = None;
    while rx.recv().is_ok() {
        if let Some(at) = last {
            let due = at + LIVE_INTERVAL;
            // fold the wake-ups that come before the next render is due into it
            loop {
                let wait = due.saturating_duration_since(Instant::now());
                match rx.recv_timeout(wait) {
                    Ok(()) if !wait.is_zero() => continue,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    _ => break,
                }
            }
        }
        // A failed live rewrite (disk full, a reader's lock) must not stop the search; the
        // final rewrite reports its error.
        let _ = write_report(std::slice::from_ref(&run.to_path_buf()), &out, 5);
        last = Some(Instant::now());
    }
}
