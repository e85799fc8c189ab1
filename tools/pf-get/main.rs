//! pf-get: list Prefect objects as a table on a terminal, NDJSON in a pipe.

mod kinds;
mod objects;
mod runs;
mod streams;

use std::process::ExitCode;

use clap::Parser;
use pf_common::cli::{ConnectionArgs, OutputArgs};
use pf_common::listing::print_pages;
use pf_common::paging::chain;

/// List Prefect objects: a table on a terminal, NDJSON (or TSV) in a pipe.
///
/// Filters run on the server. `--all` walks every page (200 at a time) and prints each page as
/// it arrives.
#[derive(Debug, Parser)]
#[command(name = "pf-get", version, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(subcommand)]
    kind: kinds::Kind,
}

const EXAMPLES: &str = "Examples:
  pf-get flow-runs --state failed --since 1d
  pf-get flow-runs --all --jq 'select(.total_run_time > 600) | .name'
  pf-get deployments --flow etl -o tsv --header
  pf-get workers --pool default --status online
  pf-get events --since 1h --event prefect.flow-run.Failed
  pf-get logs --flow-run turquoise-gazelle --level warning
  pf-get flow-runs --state failed --since 1d | pf-state retry";

fn main() -> ExitCode {
    pf_common::cli::run(|cli: Cli| -> anyhow::Result<i32> {
        let plan = match &cli.kind {
            kinds::Kind::Logs(logs) => return Ok(logs.print(&cli.connection, &cli.output)?),
            kind => kind.plan()?,
        };
        let mut printer = cli.output.printer()?;
        let client = cli.connection.client()?;
        let (sources, limit, rows) = plan.into_sources(&client)?;
        print_pages(&client, &mut printer, chain(&client, sources, limit), &rows)?;
        Ok(0)
    })
}
