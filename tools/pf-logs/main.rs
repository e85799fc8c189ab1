//! pf-logs: print flow runs' logs, follow them until the runs end, or write lines into a run.

mod write;

use std::process::ExitCode;

use clap::Parser;
use pf_common::cli::{ConnectionArgs, OutputArgs};
use pf_common::follow::{FollowEvent, FollowOptions, FollowedRun, follow};
use pf_common::logs::{LogQuery, LogWindow, parse_level};
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
/// `--write --flow-run REF` sends MESSAGEs (or each stdin line) into a run as log records, in
/// batches (at most 100 lines or 1 s). Stdin is always read to its end: through a server outage
/// lines are kept (up to 64 MB) and retried with backoff; a batch whose answer was lost is checked
/// on the server before it is resent, so no line is stored twice. The exit is 1 only when lines
/// were finally lost, and the error says how many.
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
    /// With --follow: stop after this long (30s, 10m, 1h) and exit 6 if a run is still going
    #[arg(long, value_name = "DURATION", requires = "follow")]
    timeout: Option<String>,
    /// Minimum level: debug, info, warning, error, critical, or a number (with --write: the
    /// level of the lines sent, default info)
    #[arg(long, value_name = "LEVEL")]
    level: Option<String>,
    /// Only lines written at or after: 30m, 2h, 1d, RFC 3339
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only the first N lines of each run [N default: 20]
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "20", conflicts_with = "tail")]
    head: Option<String>,
    /// Only the last N lines of each run (with --follow: then the new ones) [N default: 20]
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "20")]
    tail: Option<String>,
    /// How many lines --head/--tail show; alone, the first N (as `prefect flow-run logs -n`)
    #[arg(short = 'n', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    num_logs: Option<u32>,
    /// Newest lines first (with --head/--tail: the N newest)
    #[arg(short, long, conflicts_with = "follow")]
    reverse: bool,
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
    /// With --write: how long to keep retrying after input ends while the server is away, before
    /// the lines still unsent count as lost (exit 1) [default: 5m]
    #[arg(long, value_name = "DURATION", requires = "write")]
    give_up_after: Option<String>,
}

const EXAMPLES: &str = "Examples:
  pf-logs turquoise-gazelle
  pf-run -n etl/nightly --quiet | pf-logs --follow
  pf-get flow-runs --state failed --since 1d | pf-logs --level error
  pf-logs turquoise-gazelle --tail --follow
  pf-logs --task-run my-task-abc --head 5
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
        let printer = cli.output.configure(pf_common::output::Printer::new(
            format,
            cli.output.jq.as_deref(),
            false,
        )?);
        let client = cli.connection.client()?;
        let (window, refs) = cli.window()?;
        let mut targets = resolve_task_run(&client, cli.task_run.as_deref(), query, refs)?;
        let mut out = LogPrinter::new(printer);
        let code = if cli.follow {
            if let Some(task_run) = targets.task_run.take() {
                // Following needs a flow run to know when the lines end.
                let flow_run = targets.task_flow_run.clone().ok_or_else(|| {
                    Error::usage_hint(
                        format!("task run '{task_run}' has no flow run to follow"),
                        "drop --follow to print its lines",
                    )
                })?;
                targets.runs.push(flow_run);
            }
            let timeout = cli
                .timeout
                .as_deref()
                .map(pf_common::time::parse_duration)
                .transpose()?;
            follow_runs(
                &client,
                timeout,
                window.tail,
                targets.query,
                targets.runs,
                &mut out,
            )?
        } else {
            print_runs(&client, &targets, window, &mut out, "pf-logs")?
        };
        out.finish()?;
        Ok(code)
    })
}

impl Cli {
    /// `--head/--tail [N]` and `--reverse` as a window, and the REFs. A value after a bare
    /// `--head`/`--tail` that is not a number is a REF (`pf-logs --tail RUN`), with N = 20.
    fn window(&self) -> Result<(LogWindow, Vec<String>)> {
        let mut refs = self.args.clone();
        let mut count = |value: &Option<String>| -> Result<Option<usize>> {
            let Some(text) = value else { return Ok(None) };
            if let Ok(n) = text.parse::<usize>() {
                return Ok(Some(n));
            }
            refs.insert(0, text.clone());
            Ok(Some(20))
        };
        let mut window = LogWindow {
            head: count(&self.head)?,
            tail: count(&self.tail)?,
            reverse: self.reverse,
        };
        if let Some(n) = self.num_logs.map(|n| n as usize) {
            match window.tail {
                Some(_) => window.tail = Some(n),
                None => window.head = Some(n),
            }
        }
        Ok((window, refs))
    }

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
    timeout: Option<std::time::Duration>,
    tail: Option<usize>,
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
    // One run named on a terminal: its task runs and subflows as a live tree under the lines.
    let tree = refs.len() == 1 && refs[0] != "-" && out.is_terminal_text();
    let options = FollowOptions {
        logs: true,
        tree,
        timeout,
        stream: query.text.is_none() && pf_common::logstream::supported(client.settings()),
        query,
        tail,
        tool: "pf-logs",
        ..FollowOptions::default()
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
            FollowEvent::State(..) => Ok(()),
            FollowEvent::Checked(runs) => match runs.first() {
                Some(run) if tree => out.set_live(live_tree(run, out.color())),
                _ => Ok(()),
            },
            FollowEvent::Ended(run) => {
                if tree {
                    // The final states.
                    out.set_live(live_tree(run, out.color()))?;
                }
                if !matches!(run.state_type.as_str(), "COMPLETED" | "DELETED") {
                    pf_common::cli::warn(
                        "pf-logs",
                        format!("flow run '{}' ended {}", run.name, run.state_name),
                    );
                }
                Ok(())
            }
        },
    )?;
    if outcome.timed_out {
        return Err(pf_common::follow::timeout_error(
            &outcome,
            timeout.unwrap_or_default(),
        ));
    }
    Ok(outcome.exit_code())
}

/// The run's state and its task runs and subflows, for the live region under the lines.
fn live_tree(run: &FollowedRun, color: bool) -> Vec<String> {
    let state = (run.state_type.as_str(), run.state_name.as_str());
    pf_common::runtree::view(&run.name, state, &run.tree, color)
}
