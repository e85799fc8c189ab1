//! `pf-logs --write`: send MESSAGE arguments, or each stdin line, into a run as log records.

use std::io::BufRead;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use pf_common::logs::{LogWriter, parse_level};
use pf_common::{Client, Error, Result, refs};

use crate::Cli;

/// Lines read from stdin wait at most this long before they are sent.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Logger name of the records pf-logs writes.
const LOGGER: &str = "pf.logs";

pub fn write(client: &Client, cli: &Cli) -> Result<i32> {
    let level = cli
        .level
        .as_deref()
        .map(parse_level)
        .transpose()?
        .unwrap_or(20);
    let flow_run_ref = cli
        .flow_run
        .as_deref()
        .expect("clap requires --flow-run with --write");
    let run = refs::resolve(client, &refs::FLOW_RUN, flow_run_ref)?;
    let task_run = match &cli.task_run {
        Some(task_ref) => Some(refs::resolve(client, &refs::TASK_RUN, task_ref)?),
        None => None,
    };
    let task_run_id = task_run.as_ref().map(|t| refs::str_field(t, "id"));
    let mut writer = LogWriter::new(
        client,
        refs::str_field(&run, "id"),
        task_run_id,
        level,
        LOGGER,
    );
    if !cli.args.is_empty() {
        for message in &cli.args {
            writer.push(message)?;
        }
        writer.flush()?;
        return Ok(0);
    }
    // Lines are read on a thread so that a slow writer's lines are still sent within a second.
    let (tx, rx) = mpsc::channel::<std::io::Result<String>>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut first_pending: Option<Instant> = None;
    loop {
        let timeout = first_pending.map_or(Duration::from_secs(3600), |t| {
            FLUSH_EVERY.saturating_sub(t.elapsed())
        });
        match rx.recv_timeout(timeout) {
            Ok(line) => {
                let line = line.map_err(|e| Error::io("cannot read stdin", e))?;
                writer.push(line.trim_end_matches('\r'))?;
                first_pending =
                    (writer.pending() > 0).then(|| first_pending.unwrap_or_else(Instant::now));
            }
            Err(RecvTimeoutError::Timeout) => {
                writer.flush()?;
                first_pending = None;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    writer.flush()?;
    Ok(0)
}
