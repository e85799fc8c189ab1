//! pf-state: cancel, retry or set the state of flow runs (or task runs), and show a run's
//! state history.

mod change;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use pf_common::cli::{Batch, ConnectionArgs, OutputArgs};
use pf_common::refs::str_field;
use pf_common::states::{self, RunKind, TargetState};
use pf_common::{Error, input, refs, tables};

use change::Verb;

/// Cancel, retry or set the state of runs, and show their state history.
///
/// REFs are flow run ids or names (with --task-run: task runs); with none, or `-`, they are read
/// from stdin (one per line, or NDJSON whose `id` is taken), so `pf-get flow-runs --state running
/// | pf-state cancel` cancels every one of them.
///
/// Each REF is reported on its own row: what it was, what it is now, and the server's answer
/// (ACCEPT, or REJECT / ABORT / WAIT with its reason). A refused or failed REF exits 1; the
/// others still go through. On a terminal, acting on more than one REF asks first (--yes skips).
#[derive(Debug, Parser)]
#[command(name = "pf-state", version, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "Examples:
  pf-state cancel turquoise-gazelle
  pf-get flow-runs --state running --flow etl | pf-state cancel --yes
  pf-get flow-runs --state failed --since 1d | pf-state retry --dry-run
  pf-state set failed 0b6f5c1e-… --message 'stuck since Friday' --force
  pf-state history turquoise-gazelle";

#[derive(Debug, Subcommand)]
enum Command {
    /// Cancel runs: a flow run goes to Cancelling (its worker stops it; one not started yet is
    /// Cancelled at once), a task run to Cancelled
    Cancel(ChangeArgs),
    /// Retry finished flow runs: force a run in a terminal state back to Scheduled, for its
    /// deployment's worker to pick up (as `prefect flow-run retry`)
    Retry(ChangeArgs),
    /// Propose a state: a type (scheduled, running, completed, failed, cancelled, crashed, …)
    /// or a name (Late, AwaitingRetry, …)
    Set {
        /// The state to set
        #[arg(value_name = "STATE")]
        state: String,
        /// Skip the server's orchestration rules (needed to leave a terminal state)
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Every state the runs went through, oldest first (TIMESTAMP, STATE, MESSAGE, ID)
    History {
        /// Ids or names; read from stdin when none is given
        #[arg(value_name = "REF")]
        refs: Vec<String>,
        /// The REFs are task runs
        #[arg(long)]
        task_run: bool,
    },
}

#[derive(Debug, Args)]
struct ChangeArgs {
    /// Ids or names; read from stdin when none is given
    #[arg(value_name = "REF")]
    refs: Vec<String>,
    /// The REFs are task runs (set_task_run_state)
    #[arg(long)]
    task_run: bool,
    /// The state's message
    #[arg(long, short, value_name = "TEXT")]
    message: Option<String>,
    /// Only show what would change
    #[arg(long)]
    dry_run: bool,
    /// Do not ask before changing more than one run
    #[arg(long, short)]
    yes: bool,
    /// One set_state call per run even where the server has bulk_set_state (slower; for benchmarks)
    #[arg(long)]
    per_item: bool,
}

fn main() -> ExitCode {
    pf_common::cli::run(|cli: Cli| -> anyhow::Result<i32> {
        let (verb, args) = match &cli.command {
            Command::Cancel(a) => (Verb::Cancel, a),
            Command::Retry(a) if a.task_run => {
                return Err(Error::usage_hint(
                    "retry works on flow runs",
                    "a task run is retried by retrying its flow run: pf-state retry FLOW-RUN",
                )
                .into());
            }
            Command::Retry(a) => (Verb::Retry, a),
            Command::Set {
                state,
                force,
                change,
            } => (
                Verb::Set {
                    target: TargetState::parse(state)?,
                    force: *force,
                },
                change,
            ),
            Command::History { refs, task_run } => return history(&cli, refs, *task_run),
        };
        let mut printer = cli.output.printer()?;
        let client = cli.connection.client()?;
        let kind = if args.task_run {
            RunKind::TaskRun
        } else {
            RunKind::FlowRun
        };
        let options = change::Options {
            message: args.message.clone(),
            dry_run: args.dry_run,
            yes: args.yes,
            per_item: args.per_item,
        };
        let code = change::run_all(&client, &mut printer, kind, &verb, &options, &args.refs)?;
        Ok(code)
    })
}

fn history(cli: &Cli, references: &[String], task_run: bool) -> anyhow::Result<i32> {
    let mut printer = cli.output.printer()?;
    let client = cli.connection.client()?;
    let kind = if task_run {
        RunKind::TaskRun
    } else {
        RunKind::FlowRun
    };
    printer.columns(tables::STATE_COLUMNS);
    let mut batch = Batch::default();
    for reference in input::refs(references)? {
        let history = reference
            .and_then(|r| refs::resolve(&client, &kind.ref_kind(), &r))
            .and_then(|run| {
                let states = states::history(&client, kind, str_field(&run, "id"))?;
                Ok((str_field(&run, "name").to_string(), states))
            });
        if let Some((name, states)) = batch.record("pf-state", history) {
            printer.page(&states, |s| tables::state_row_of(&name, s))?;
        }
    }
    printer.finish()?;
    Ok(batch.exit_code())
}
