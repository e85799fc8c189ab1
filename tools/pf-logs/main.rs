//! pf-logs: print flow runs' logs, follow them until the runs end, or write lines into a run.

mod write;

use std::process::ExitCode;

use clap::Parser;
use pf_common::cli::{ConnectionArgs, OutputArgs};
use pf_common::follow::{FollowEvent, FollowOptions, follow};
use pf_common::logs::{LogQuery, parse_level};
use pf_common::output::Format;
use pf_common::time::parse_time_ago;
use pf_common::{Client, Error, Result, input};

use pf_common::logprint::{LogPrinter, print_runs, resolve_task_run};

/// Print flow runs' logs: a table on a terminal, the full records as NDJSON in a pipe.
///
/// REFs are flow run ids or names. With no REF, or `-`, REFs are read from stdin: one per line,
/// or NDJSON objects whose `id` is taken, so `pf-run -n etl/nightly --quiet | pf-logs --follow`
/// and `pf-get flow-runs --state failed | pf-logs` work. With several runs each line carries the
/// run's name (a FLOW RUN column on a terminal, `flow_run_name` in NDJSON).
///
/// `--follow` prints what exists, then new lines as they are written, until every run has ended
/// (plus a few seconds for late lines), and exits 0 when all ended COMPLETED, else 1. It polls
/// the server, and uses its /logs/out stream for lower latency where the server streams. A lost
/// connection is reported on stderr and retried; no line is lost or printed twice.
///
/// `--write --flow-run REF` sends MESSAGEs (or each stdin line) into a run as log records.
#[derive(Debug, Parser)]
#[command(name = "pf-logs", version, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// Flow run ids or names (read from stdin when none); with --write, the messages to send
    #[arg(value_name = "REF")]
    args: Vec<String>,
    /// Print new lines as they are written until the runs end; exit 1 unless all COMPLETED
    #[arg(short, long, conflicts_with = "head")]
    follow: bool,
    /// Minimum level: debug, info, warning, error, critical, or a number (with --write: the
    /// level of the lines sent, default info)
    #[arg(long, value_name = "LEVEL")]
    level: Option<String>,
    /// Only lines written at or after: 30m, 2h, 1d, RFC 3339
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only the first N lines of each run
    #[arg(long, value_name = "N", conflicts_with = "tail")]
    head: Option<usize>,
    /// Only the last N lines of each run (with --follow: then the new ones)
    #[arg(long, value_name = "N")]
    tail: Option<usize>,
    /// Only lines of this task run (id or name); with no REF, its flow run is used
    #[arg(long, value_name = "REF")]
    task_run: Option<String>,
    /// Only lines matching this server-side text search (`error -debug`, `"two words"`)
    #[arg(long, value_name = "TEXT")]
    grep: Option<String>,
    /// Print the full log records as NDJSON, also on a terminal
    #[arg(long, conflicts_with = "output")]
    info: bool,
    /// Send log lines into a run: MESSAGE arguments, or each stdin line, in batches
    #[arg(long, requires = "flow_run", conflicts_with_all = ["follow", "head", "tail", "since", "grep", "info"])]
    write: bool,
    /// The flow run (id or name) that --write sends lines into
    #[arg(long, value_name = "REF", requires = "write")]
    flow_run: Option<String>,
}

const EXAMPLES: &str = "Examples:
  pf-logs turquoise-gazelle
  pf-run -n etl/nightly --quiet | pf-logs --follow
  pf-get flow-runs --state failed --since 1d | pf-logs --level error
  pf-logs turquoise-gazelle --tail 20 --follow
  pf-logs turquoise-gazelle --jq 'select(.level >= 40) | .message'
  make 2>&1 | pf-logs --write --flow-run turquoise-gazelle --level warning";

fn main() -> ExitCode {
    pf_common::cli::run(|cli: Cli| -> anyhow::Result<i32> {
        if cli.write {
            let client = cli.connection.client()?;
            return Ok(write::write(&client, &cli)?);
        }
        let query = cli.query()?;
        let format = if cli.info {
            Some(Format::Ndjson)
        } else {
            cli.output.output
        };
        let printer =
            pf_common::output::Printer::new(format, cli.output.jq.as_deref(), cli.output.header)?;
        let client = cli.connection.client()?;
        let (query, refs) =
            resolve_task_run(&client, cli.task_run.as_deref(), query, cli.args.clone())?;
        let mut out = LogPrinter::new(printer);
        let code = if cli.follow {
            follow_runs(&client, &cli, query, refs, &mut out)?
        } else {
            print_runs(
                &client,
                &query,
                &refs,
                (cli.head, cli.tail),
                &mut out,
                "pf-logs",
            )?
        };
        out.finish()?;
        Ok(code)
    })
}

impl Cli {
    /// The flags as one query (flow runs are added per REF); bad values are usage errors here.
    fn query(&self) -> Result<LogQuery> {
        let level = self.level.as_deref().map(parse_level).transpose()?;
        if let Some(text) = &self.grep
            && text.chars().count() > 200
        {
            return Err(Error::usage(
                "--grep takes at most 200 characters (the server's limit)",
            ));
        }
        Ok(LogQuery {
            flow_run_ids: Vec::new(),
            task_run_id: None,
            min_level: level,
            since: self.since.as_deref().map(parse_time_ago).transpose()?,
            text: self.grep.clone(),
        })
    }
}

/// Follow the runs until they end; REFs from stdin are followed as they arrive.
fn follow_runs(
    client: &Client,
    cli: &Cli,
    query: LogQuery,
    refs: Vec<String>,
    out: &mut LogPrinter,
) -> Result<i32> {
    // Fail now, not on the reader thread, when there is nothing to read REFs from.
    if (refs.is_empty() || refs.iter().all(|r| r == "-")) && pf_common::output::stdin_is_terminal()
    {
        let _ = input::refs(&refs)?;
    }
    out.set_multi(refs.len() > 1);
    let options = FollowOptions {
        stream: query.text.is_none() && pf_common::logstream::supported(client.settings()),
        query,
        tail: cli.tail,
        tool: "pf-logs",
    };
    let outcome = follow(
        client,
        &options,
        move || input::refs(&refs),
        |event| match event {
            FollowEvent::Started(run) => {
                out.add_run(&run.name);
                Ok(())
            }
            FollowEvent::Record(run, record) => out.records(&run.name, vec![record]),
            FollowEvent::Ended(run) => {
                if run.state_type != "COMPLETED" {
                    pf_common::cli::warn(
                        "pf-logs",
                        format!("flow run '{}' ended {}", run.name, run.state_name),
                    );
                }
                Ok(())
            }
        },
    )?;
    Ok(outcome.exit_code())
}
