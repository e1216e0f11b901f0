//! Many machines: searches coordinated through a real `redis-server` (started by each test on a
//! free loopback port, with a password, no persistence, in a temp dir) and trained by three
//! `nas worker` processes of the real binary. Every fault is made by killing a process: a
//! worker mid-child, the coordinator, Redis itself (restarted with its data, and empty). No
//! candidate may be lost or recorded twice, and the history must be the one a local search with
//! the same seed records.

mod common;

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{history, nas, ok, scratch};

const PASSWORD: &str = "s3cret-test-pw";

/// A `redis-server` of this test.
struct Redis {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Redis {
    fn start(dir: &Path) -> Redis {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = dir.join("redis");
        std::fs::create_dir_all(&dir).unwrap();
        let mut redis = Redis {
            dir,
            port,
            child: None,
        };
        redis.launch();
        redis
    }

    fn launch(&mut self) {
        let log = File::create(self.dir.join("redis.log")).unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--requirepass", PASSWORD, "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}): install it (Debian: apt-get install redis-server); CI installs it in .ci/run")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.query(&["PING"]).is_none() {
            assert!(Instant::now() < deadline, "redis-server did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self) -> String {
        format!("redis://:{PASSWORD}@127.0.0.1:{}/0", self.port)
    }

    /// One command's reply, or `None` when Redis does not answer.
    fn query(&self, args: &[&str]) -> Option<redis::Value> {
        let client = redis::Client::open(self.url()).ok()?;
        let mut conn = client
            .get_connection_with_timeout(Duration::from_secs(1))
            .ok()?;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut conn).ok()
    }

    /// SIGKILL; `keep` keeps a snapshot saved just before, else Redis comes back empty.
    fn kill(&mut self, keep: bool) {
        if keep {
            self.query(&["SAVE"]);
        } else {
            let _ = std::fs::remove_file(self.dir.join("dump.rdb"));
        }
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// The keys of run `run` left in Redis.
    fn run_keys(&self, run: &str) -> Vec<String> {
        // a run's queue is named after its folder and its creation time: `nas:RUN@SECS:...`
        let pattern = format!("nas:{run}@*");
        match self.query(&["KEYS", &pattern]) {
            Some(v) => redis::from_redis_value(v).unwrap_or_default(),
            None => vec![],
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill(false);
    }
}

/// A `nas worker` writing its log to `DIR/NAME.log`.
fn worker(dir: &Path, url: &str, name: &str) -> Child {
    let log = File::create(dir.join(format!("{name}.log"))).unwrap();
    nas(dir)
        .args(["worker", "--broker", url, "--name", name, "--threads", "1"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

fn workers(dir: &Path, url: &str) -> Vec<Child> {
    (0..3).map(|k| worker(dir, url, &format!("w{k}"))).collect()
}

fn stop_all(children: &mut Vec<Child>) {
    for mut child in children.drain(..) {
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
}

fn table_args(run: &str, seed: u64, samples: usize) -> Vec<String> {
    let (samples, seed) = (samples.to_string(), seed.to_string());
    let args = ["search", "--space", "toy-table", "--samples", &samples];
    let more = ["--batch", "8", "--seed", &seed, "--json", "--run", run];
    args.iter()
        .chain(more.iter())
        .map(|s| s.to_string())
        .collect()
}

fn brokered(args: Vec<String>, url: &str) -> Vec<String> {
    let more = ["--broker", url, "--workers", "0", "--reclaim-after", "2"];
    args.into_iter()
        .chain(more.iter().map(|s| s.to_string()))
        .collect()
}

/// Runs `args` to the end (stderr to `DIR/NAME.log`) and asserts success.
fn finish(dir: &Path, args: &[String], name: &str) -> Duration {
    let started = Instant::now();
    let status = nas(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(File::create(dir.join(format!("{name}.log"))).unwrap())
        .status()
        .unwrap();
    assert!(status.success(), "{name} failed:\n{}", log(dir, name));
    started.elapsed()
}

#[test]
fn a_table_search_through_the_broker_has_the_history_of_a_local_one() {
    let dir = scratch();
    let d = dir.path();
    ok(nas(d).args(table_args("local", 5, 400)));
    let expected = history(d, "local");
    assert_eq!(expected.len(), 400);
    let redis = Redis::start(d);
    let mut pool = workers(d, &redis.url());
    let took = finish(
        d,
        &brokered(table_args("brokered", 5, 400), &redis.url()),
        "coordinator",
    );
    stop_all(&mut pool);
    assert_eq!(history(d, "brokered"), expected);
    for k in 0..3 {
        assert!(
            log(d, &format!("w{k}")).contains("table lookup"),
            "worker w{k} took no job"
        );
    }
    assert!(
        redis.run_keys("brokered").is_empty(),
        "a finished run leaves no keys"
    );
    eprintln!(
        "400 table candidates through the broker with 3 workers in {:.2}s: {:.0} per minute",
        took.as_secs_f64(),
        400.0 * 60.0 / took.as_secs_f64()
    );
}

#[test]
fn a_coordinator_killed_and_resumed_loses_no_candidate_and_records_none_twice() {
    let dir = scratch();
    let d = dir.path();
    ok(nas(d).args(table_args("local", 7, 1500)));
    let expected = history(d, "local");
    let redis = Redis::start(d);
    let mut pool = workers(d, &redis.url());
    let args = brokered(table_args("killed", 7, 1500), &redis.url());
    let mut kills = 0;
    for delay in [700, 1200, 900] {
        let mut cmd = nas(d);
        match d.join("runs/killed").exists() {
            true => cmd.args(brokered(
                ["search", "--resume", "killed", "--json"]
                    .map(String::from)
                    .to_vec(),
                &redis.url(),
            )),
            false => cmd.args(&args),
        };
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL to the coordinator; the workers go on
            kills += 1;
        }
        child.wait().unwrap();
        // results of the jobs it left arrive while no coordinator listens
        std::thread::sleep(Duration::from_millis(300));
        let got = history(d, "killed");
        for (id, row) in &got {
            assert_eq!(
                Some(row),
                expected.get(id),
                "candidate {id} after kill {kills}"
            );
        }
    }
    assert!(kills > 0, "the coordinator finished before any kill");
    let resume = brokered(
        ["search", "--resume", "killed", "--json"]
            .map(String::from)
            .to_vec(),
        &redis.url(),
    );
    finish(d, &resume, "resumed");
    stop_all(&mut pool);
    assert_eq!(history(d, "killed"), expected, "after {kills} kills");
}

#[test]
fn redis_killed_and_restarted_with_or_without_its_data_is_ridden_out() {
    let dir = scratch();
    let d = dir.path();
    ok(nas(d).args(table_args("local", 11, 3000)));
    let expected = history(d, "local");
    let mut redis = Redis::start(d);
    let url = redis.url();
    let mut pool = workers(d, &url);
    let args = brokered(table_args("bumpy", 11, 3000), &url);
    let mut coordinator = nas(d)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(File::create(d.join("coordinator.log")).unwrap())
        .spawn()
        .unwrap();
    for keep in [true, false] {
        std::thread::sleep(Duration::from_millis(800));
        redis.kill(keep);
        std::thread::sleep(Duration::from_millis(1000));
        redis.launch();
    }
    let status = coordinator.wait().unwrap();
    stop_all(&mut pool);
    let said = log(d, "coordinator");
    assert!(status.success(), "{said}");
    assert!(
        said.contains("unreachable"),
        "the coordinator said nothing:\n{said}"
    );
    assert!(said.contains("lost the run's queue"), "{said}");
    assert!(log(d, "w0").contains("unreachable"), "{}", log(d, "w0"));
    assert_eq!(history(d, "bumpy"), expected);
}

#[test]
fn a_worker_killed_mid_child_has_its_job_reclaimed_and_trained_elsewhere() {
    let dir = scratch();
    let d = dir.path();
    let train = |run: &str| -> Vec<String> {
        [
            "search",
            "--space",
            "resnet-cells",
            "--samples",
            "3",
            "--batch",
            "3",
            "--seed",
            "4",
            "--dataset",
            "synthetic",
            "--epochs",
            "1",
            "--train-size",
            "256",
            "--val-size",
            "128",
            "--threads",
            "1",
            "--finalists",
            "0",
            "--json",
            "--run",
            run,
        ]
        .map(String::from)
        .to_vec()
    };
    let redis = Redis::start(d);
    let url = redis.url();
    let mut doomed = worker(d, &url, "doomed");
    let mut coordinator = nas(d)
        .args(brokered(train("cells"), &url))
        .stdout(Stdio::null())
        .stderr(File::create(d.join("coordinator.log")).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !log(d, "doomed").contains("train to epoch") {
        assert!(
            Instant::now() < deadline,
            "no job reached the worker:\n{}",
            log(d, "coordinator")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    doomed.kill().unwrap(); // SIGKILL mid-child
    doomed.wait().unwrap();
    let killed_at = Instant::now();
    let mut pool = vec![worker(d, &url, "w0"), worker(d, &url, "w1")];
    let status = coordinator.wait().unwrap();
    stop_all(&mut pool);
    assert!(status.success(), "{}", log(d, "coordinator"));
    let reclaimed = log(d, "w0") + &log(d, "w1");
    assert!(reclaimed.contains("reclaimed job"), "{reclaimed}");
    let got = history(d, "cells");
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(
        got.values()
            .all(|r| r.2 == "completed" || r.2 == "duplicate"),
        "{got:?}"
    );
    eprintln!(
        "the killed worker's job was done within {:.1}s",
        killed_at.elapsed().as_secs_f64()
    );
}

#[test]
fn a_worker_with_the_wrong_password_is_refused_at_once() {
    let dir = scratch();
    let d = dir.path();
    let redis = Redis::start(d);
    let wrong = format!("redis://:not-the-password@127.0.0.1:{}/0", redis.port);
    let started = Instant::now();
    let out = nas(d)
        .args(["worker", "--broker", &wrong, "--name", "intruder"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(err.contains("refused the credentials"), "{err}");
    assert!(
        !err.contains("not-the-password"),
        "the password is shown: {err}"
    );
    let search = nas(d)
        .args(brokered(table_args("nope", 1, 10), &wrong))
        .output()
        .unwrap();
    assert_eq!(search.status.code(), Some(2));
    assert!(
        !d.join("runs/nope").exists(),
        "a refused search leaves no run behind"
    );
}
