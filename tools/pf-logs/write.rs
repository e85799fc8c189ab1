//! `pf-logs --write`: send MESSAGE arguments, or each stdin line, into a run as log records.
//!
//! Stdin is read on its own thread into the shared log shipper, which never blocks it: a
//! producer (`make 2>&1 | pf-logs --write …`) is never stalled or killed by a server outage.

use std::time::Duration;

use pf_common::input::Lines;
use pf_common::logs::parse_level;
use pf_common::logship::{LogShipper, ShipOptions, ShipTarget};
use pf_common::time::parse_duration;
use pf_common::{Client, Result, refs};

use crate::Cli;

/// Logger name of the records pf-logs writes.
const LOGGER: &str = "pf.logs";

pub fn write(client: &Client, cli: &Cli) -> Result<i32> {
    let level = cli
        .level
        .as_deref()
        .map(parse_level)
        .transpose()?
        .unwrap_or(20);
    let give_up_after = match cli.give_up_after.as_deref() {
        Some(text) => parse_duration(text)?,
        None => Duration::from_secs(300),
    };
    let flow_run_ref = cli
        .flow_run
        .as_deref()
        .expect("clap requires --flow-run with --write");
    let run = refs::resolve(client, &refs::FLOW_RUN, flow_run_ref)?;
    let task_run_id = match &cli.task_run {
        Some(task_ref) => Some(
            refs::str_field(&refs::resolve(client, &refs::TASK_RUN, task_ref)?, "id").to_string(),
        ),
        None => None,
    };
    let shipper = LogShipper::start(
        Client::new(client.settings().clone(), client.verbose())?,
        ShipTarget {
            flow_run_id: refs::str_field(&run, "id").to_string(),
            task_run_id,
            logger: LOGGER.into(),
        },
        ShipOptions {
            give_up_after,
            tool: "pf-logs".into(),
            ..ShipOptions::default()
        },
    );
    let mut read_error = None;
    if cli.args.is_empty() {
        for line in Lines::new(std::io::stdin().lock()) {
            match line {
                Ok(line) => shipper.push(level, &line.text),
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            }
        }
    } else {
        for message in &cli.args {
            shipper.push(level, message);
        }
    }
    shipper.finish().into_result()?;
    match read_error {
        Some(e) => Err(e),
        None => Ok(0),
    }
}
