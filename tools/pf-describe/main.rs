//! pf-describe: one object in full, with the related objects an operator asks for next.

mod related;

use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use pf_common::cli::{Batch, ConnectionArgs, OutputArgs};
use pf_common::output::TableMode;
use pf_common::{input, refs};

/// Show objects in full: pretty JSON on a terminal, NDJSON in a pipe.
///
/// REFs are ids or names (deployments: FLOW/DEPLOYMENT). With no REF, or `-`, REFs are read from
/// stdin: one per line, or NDJSON objects whose `id` is taken, so `pf-get flow-runs |
/// pf-describe flow-run` works.
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
    /// Ids or names; read from stdin when none is given
    #[arg(value_name = "REF")]
    refs: Vec<String>,
}

const EXAMPLES: &str = "Examples:
  pf-describe flow-run turquoise-gazelle
  pf-describe deployment etl/nightly --jq .parameters
  pf-get flow-runs --state failed | pf-describe flow-run --jq .state.message";

/// The kinds pf-describe knows.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    /// A flow, with its deployments
    Flow,
    /// A flow run, with its flow name, deployment name and state history
    FlowRun,
    /// A deployment (REF: id or FLOW/DEPLOYMENT)
    Deployment,
    /// A task run, with its state history
    TaskRun,
}

fn main() -> ExitCode {
    pf_common::cli::run(|cli: Cli| -> anyhow::Result<i32> {
        let mut printer = cli.output.printer()?.with_table_mode(TableMode::PrettyJson);
        let client = cli.connection.client()?;
        let ref_kind = match cli.kind {
            Kind::Flow => refs::FLOW,
            Kind::FlowRun => refs::FLOW_RUN,
            Kind::Deployment => refs::DEPLOYMENT,
            Kind::TaskRun => refs::TASK_RUN,
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
