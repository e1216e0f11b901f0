//! `nas worker`: serves the Redis queues of searches started with `--broker`, and renders the
//! worker's events as lines on stderr. The first Ctrl-C lets the current job finish, the second
//! stops it and puts it back in the queue for another worker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Result;
use clap::Args;
use nas::pool::broker::{self, WorkerConfig, WorkerEvent};

#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// The Redis of the searches: redis://[:PASSWORD@]HOST:PORT[/DB] (rediss:// for TLS).
    #[arg(long, value_name = "URL")]
    broker: String,
    /// cpu, or cuda:N with the cuda feature.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Threads of the child's training (default: all cores).
    #[arg(long, value_parser = super::values::count_up_to::<{ super::values::MAX_THREADS }>)]
    threads: Option<usize>,
    /// This worker's name in the queue and in results [default: HOST-PID].
    #[arg(long)]
    name: Option<String>,
}

/// Runs the worker until Ctrl-C; returns whether it was interrupted.
pub fn run(args: WorkerArgs) -> Result<bool> {
    nas::pool::parse_devices(&args.device)?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{}", broker::host_name(), std::process::id()));
    let cfg = WorkerConfig {
        url: args.broker.clone(),
        name: name.clone(),
        device: args.device.clone(),
        threads: args.threads.unwrap_or(0),
    };
    let drain = Arc::new(AtomicBool::new(false));
    let abort = Arc::new(AtomicBool::new(false));
    let (d, a) = (drain.clone(), abort.clone());
    ctrlc::set_handler(move || {
        if d.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond interrupt: stopping the current job and putting it back");
            a.store(true, Ordering::SeqCst);
        } else {
            eprintln!("\ninterrupt: finishing the current job, then stopping (Ctrl-C again to put it back now)");
        }
    })?;
    let done = broker::serve(&cfg, &drain, abort, &mut |e| render(&name, e))?;
    eprintln!("worker {name}: stopped after {done} jobs");
    Ok(drain.load(Ordering::SeqCst))
}

fn render(name: &str, event: WorkerEvent) {
    let line = match event {
        WorkerEvent::Connected { redis } => format!("connected to {redis}; waiting for jobs"),
        WorkerEvent::Reclaimed { run, key } => {
            format!("run {run}: reclaimed job {key} from a worker that stopped answering")
        }
        WorkerEvent::Took { run, key, what } => format!("run {run}: job {key}: {what}"),
        WorkerEvent::Finished {
            run,
            key,
            seconds,
            result,
        } => format!("run {run}: job {key} done in {seconds:.2}s: {result}"),
        WorkerEvent::Returned { run, key } => format!("run {run}: job {key} put back in the queue"),
        WorkerEvent::Trouble { message } => message,
        WorkerEvent::Reconnected => "reconnected to Redis".into(),
    };
    eprintln!("worker {name}: {line}");
}
