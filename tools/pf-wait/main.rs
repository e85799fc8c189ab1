//! pf-wait: wait for flow runs to reach a state; the exit code says how they ended.

use std::process::ExitCode;

use clap::Parser;
use pf_common::cli::{ConnectionArgs, OutputArgs};
use pf_common::follow::{FollowOptions, Target, follow, timeout_error};
use pf_common::output::Cell;
use pf_common::{input, model, time};
use serde_json::Value;

/// Wait for flow runs to reach a state, then print one row per run (its final state and
/// message) and exit 0 when every run reached it, 1 when any ended otherwise, 6 on --timeout.
///
/// REFs are flow run ids or names. With no REF, or `-`, REFs are read from stdin (one per
/// line, or NDJSON objects whose `id` is taken) and each is waited for as soon as it arrives,
/// so `for d in a b c; do pf-run -n $d -q; done | pf-wait` fans out and in.
///
/// `--for terminal` (the default) waits until each run ends, and succeeds when it ended
/// COMPLETED; `completed` is the same; `running` succeeds once a run has started; any other
/// word is a state type or name (`late`, `paused`, `scheduled`), and a run that ends without
/// reaching it fails. A lost connection is reported on stderr and retried.
#[derive(Debug, Parser)]
#[command(name = "pf-wait", version, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// Flow run ids or names (read from stdin when none)
    #[arg(value_name = "REF")]
    refs: Vec<String>,
    /// What to wait for: terminal, completed, running, or a state name
    #[arg(long = "for", value_name = "STATE", default_value = "terminal")]
    target: String,
    /// Stop after this long (30s, 10m, 1h) and exit 6 when a run has not reached the state
    #[arg(long, value_name = "DURATION")]
    timeout: Option<String>,
    /// Stop as soon as one run reaches the state (exit 0), instead of waiting for all
    #[arg(long)]
    any: bool,
}

const EXAMPLES: &str = "Examples:
  pf-wait turquoise-gazelle
  for d in etl/a etl/b etl/c; do pf-run -n $d -q; done | pf-wait
  pf-get flow-runs --state running | pf-wait --timeout 30m
  pf-run -n etl/nightly -q | pf-wait --for running && echo started
  pf-wait --any run-one run-two -o tsv";

/// Columns of the rows printed at the end.
const COLUMNS: &[&str] = &["NAME", "STATE", "MESSAGE", "DURATION", "ID"];

fn main() -> ExitCode {
    pf_common::cli::run(|cli: Cli| -> anyhow::Result<i32> {
        let target = Target::parse(&cli.target)?;
        let timeout = cli
            .timeout
            .as_deref()
            .map(time::parse_duration)
            .transpose()?;
        let mut printer = cli.output.printer()?;
        let client = cli.connection.client()?;
        // Fail now, not on the reader thread, when there is nothing to read REFs from.
        let refs = cli.refs.clone();
        if (refs.is_empty() || refs.iter().all(|r| r == "-"))
            && pf_common::output::stdin_is_terminal()
        {
            let _ = input::refs(&refs)?;
        }
        let options = FollowOptions {
            target,
            any: cli.any,
            timeout,
            tool: "pf-wait",
            ..FollowOptions::default()
        };
        let outcome = follow(&client, &options, move || input::refs(&refs), |_| Ok(()))?;
        printer.columns(COLUMNS);
        for (run, _) in &outcome.runs {
            printer.object(run, row)?;
        }
        printer.finish()?;
        if outcome.timed_out {
            return Err(timeout_error(&outcome, timeout.unwrap_or_default()).into());
        }
        Ok(outcome.exit_code())
    })
}

fn row(run: &Value) -> Vec<Cell> {
    vec![
        Cell::from_json(run.get("name")),
        model::state_cell(run),
        Cell::from_json(run.pointer("/state/message")),
        Cell::Duration(model::run_duration(run)),
        Cell::from_json(run.get("id")),
    ]
}
