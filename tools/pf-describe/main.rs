//! pf-describe: one object in full, with the related objects an operator asks for next.

mod related;
mod tasks;

use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use pf_common::cli::{Batch, ConnectionArgs, OutputArgs};
use pf_common::output::TableMode;
use pf_common::{Error, input, refs};

/// Show objects in full: pretty JSON on a terminal, NDJSON in a pipe.
///
/// REFs are ids or names (deployments: FLOW/DEPLOYMENT; work queues: POOL/QUEUE; blocks:
/// TYPE/NAME; artifacts: a key, for its latest version). With no REF, or `-`, REFs are read
/// from stdin: one per line, or NDJSON objects whose `id` is taken, so `pf-get flow-runs |
/// pf-describe flow-run` works.
///
/// `tasks` lists every task run of a flow run with its state and timing (a table on a
/// terminal): `pf-describe tasks --flow-run REF`, or `--flow NAME` for the flow's most recent run.
#[derive(Debug, Parser)]
#[command(name = "pf-describe", version, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// What to describe
    #[arg(value_enum)]
    kind: Kind,
    /// Ids or names; read from stdin when none is given (for `tasks`: flow runs)
    #[arg(value_name = "REF")]
    refs: Vec<String>,
    /// tasks: the flow run whose task runs to show (id or name)
    #[arg(long, value_name = "REF")]
    flow_run: Option<String>,
    /// tasks: the task runs of this flow's most recent run
    #[arg(long, value_name = "NAME", conflicts_with = "flow_run")]
    flow: Option<String>,
}

const EXAMPLES: &str = "Examples:
  pf-describe flow-run turquoise-gazelle
  pf-describe deployment etl/nightly --jq .parameters
  pf-describe work-pool default --jq '.workers[].name'
  pf-describe block secret/db-password
  pf-describe tasks --flow etl
  pf-get flow-runs --state failed | pf-describe flow-run --jq .state.message";

/// The kinds pf-describe knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// A flow, with its deployments
    Flow,
    /// A flow run, with its flow name, deployment name and state history
    FlowRun,
    /// A deployment (REF: id or FLOW/DEPLOYMENT)
    Deployment,
    /// A task run, with its state history
    TaskRun,
    /// A work pool (REF: name or id), with its work queues and workers
    WorkPool,
    /// A work queue (REF: id, POOL/QUEUE, or a name unique across pools)
    WorkQueue,
    /// An artifact (REF: id, or a key for its latest version)
    Artifact,
    /// A variable (REF: name or id)
    Variable,
    /// A block document (REF: id, TYPE/NAME, or a unique name); secret values stay hidden
    Block,
    /// An automation (REF: name or id)
    Automation,
    /// Every task run of a flow run, with its state and timing
    Tasks,
}

fn main() -> ExitCode {
    pf_common::cli::run(|cli: Cli| -> anyhow::Result<i32> {
        if cli.kind != Kind::Tasks && (cli.flow_run.is_some() || cli.flow.is_some()) {
            return Err(Error::usage("--flow-run and --flow go with `pf-describe tasks`").into());
        }
        let client = cli.connection.client()?;
        if cli.kind == Kind::Tasks {
            let mut printer = cli.output.printer()?;
            let (runs, code) = tasks::flow_runs(
                &client,
                &cli.refs,
                cli.flow_run.as_deref(),
                cli.flow.as_deref(),
            )?;
            if !runs.is_empty() {
                tasks::print(&client, &mut printer, &runs)?;
            }
            return Ok(code);
        }
        let mut printer = cli.output.printer()?.with_table_mode(TableMode::PrettyJson);
        let ref_kind = match cli.kind {
            Kind::Flow => refs::FLOW,
            Kind::FlowRun => refs::FLOW_RUN,
            Kind::Deployment => refs::DEPLOYMENT,
            Kind::TaskRun => refs::TASK_RUN,
            Kind::WorkPool => refs::WORK_POOL,
            Kind::WorkQueue => refs::WORK_QUEUE,
            Kind::Artifact => refs::ARTIFACT,
            Kind::Variable => refs::VARIABLE,
            Kind::Block => refs::BLOCK,
            Kind::Automation => refs::AUTOMATION,
            Kind::Tasks => unreachable!("handled above"),
        };
        let mut batch = Batch::default();
        for reference in input::refs(&cli.refs)? {
            let described = reference
                .and_then(|r| refs::resolve(&client, &ref_kind, &r))
                .and_then(|object| related::add(&client, cli.kind, object));
            if let Some(object) = batch.record("pf-describe", described) {
                printer.object(&object, |_| Vec::new())?;
            }
        }
        printer.finish()?;
        Ok(batch.exit_code())
    })
}
