//! `kill -9` over and over, with three sinks: the file sink, a file sink on a named
//! pipe that has no reader for the first part of the run (slow to start: nothing can
//! be written to it), and a syslog collector that is down for most of the run. Every id
//! a client saw, and every id the file sink wrote, reaches every sink in the end,
//! whatever the order the sinks are listed in (SPEC §8). Duplicates are allowed; gaps
//! are not.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::collector::*;
use crate::scripted::ScriptedCollector;
use crate::support::*;

/// Restarts per sink order.
const RESTARTS: usize = 50;
/// The pipe gets a reader from this restart on, the collector comes up at this one.
const PIPE_READER_AT: usize = 20;
const COLLECTOR_AT: usize = 35;

/// Reads lines from a named pipe, reopening it after every writer leaves.
struct PipeReader {
    ids: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PipeReader {
    fn start(path: PathBuf) -> PipeReader {
        let ids = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, done) = (ids.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                // Blocks until a writer opens the pipe (the proxy, or `stop` below).
                let Ok(file) = std::fs::File::open(&path) else { return };
                for line in std::io::BufReader::new(file).lines() {
                    let Ok(line) = line else { break };
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                        if let Some(id) = v["event"]["id"].as_str() {
                            seen.lock().unwrap().push(id.to_owned());
                        }
                    }
                }
            }
        });
        PipeReader {
            ids,
            stop,
            thread: Some(thread),
        }
    }

    fn ids(&self) -> HashSet<String> {
        self.ids.lock().unwrap().iter().cloned().collect()
    }

    fn stop(&mut self, path: &std::path::Path) {
        self.stop.store(true, Ordering::Relaxed);
        // Unblock a reader waiting in open(2) by opening the write end once.
        let _ = std::fs::OpenOptions::new().write(true).open(path);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn sinks(collector_port: u16, pipe: &std::path::Path) -> String {
    format!(
        "[[log.sink]]\nname = \"siem\"\ntype = \"syslog\"\nformat = \"ecs\"\naddress = \"127.0.0.1:{collector_port}\"\n\n\
         [[log.sink]]\nname = \"pipe\"\ntype = \"file\"\npath = \"{}\"\n",
        pipe.display()
    )
}

async fn kill_9_loop(syslog_first: bool) {
    let fifo_dir = tempfile::tempdir().unwrap();
    let pipe = fifo_dir.path().join("slow.fifo");
    let made = std::process::Command::new("mkfifo").arg(&pipe).status().unwrap();
    assert!(made.success());
    let port = free_port();
    let extra = sinks(port, &pipe);
    let mut proxy = Running::start(if syslog_first {
        Opts {
            sinks_before: extra,
            ..Opts::default()
        }
    } else {
        Opts {
            sinks: extra,
            ..Opts::default()
        }
    });
    let mut reader = None;
    let mut collector = None;
    let mut seen = Vec::new();
    for i in 0..RESTARTS {
        if i == PIPE_READER_AT {
            reader = Some(PipeReader::start(pipe.clone()));
        }
        if i == COLLECTOR_AT {
            collector = Some(ScriptedCollector::start_on(port, Vec::new()).await);
        }
        seen.extend(make_events(proxy.addr, 10).await);
        // `restart` kills with SIGKILL, waits, and starts the same configuration again.
        tokio::task::block_in_place(|| proxy.restart());
    }
    seen.extend(make_events(proxy.addr, 10).await);

    let mut want: HashSet<String> = seen.iter().cloned().collect();
    for e in proxy.events() {
        want.insert(e["event"]["id"].as_str().unwrap().to_owned());
    }
    let want: Vec<String> = want.into_iter().collect();
    let order = if syslog_first { "syslog first" } else { "file first" };
    let collector = collector.unwrap();
    let missing = collector.missing_after(&want, Duration::from_secs(60)).await;
    assert!(
        missing.is_empty(),
        "{order}: {} of {} ids never reached syslog",
        missing.len(),
        want.len()
    );
    let mut reader = reader.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got = reader.ids();
        let missing = want.iter().filter(|id| !got.contains(*id)).count();
        if missing == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{order}: {missing} of {} ids never reached the pipe",
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let file: HashSet<String> = proxy
        .events()
        .iter()
        .map(|e| e["event"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        seen.iter().all(|id| file.contains(id)),
        "{order}: the file sink lost ids"
    );
    drop(proxy);
    reader.stop(&pipe);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loop_file_sink_first() {
    kill_9_loop(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loop_syslog_sink_first() {
    kill_9_loop(true).await;
}
