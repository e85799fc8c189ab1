//! pf-rm: delete Prefect objects of any kind, one result row per REF.

use std::process::ExitCode;

use clap::Parser;
use pf_common::cli::{ConnectionArgs, OutputArgs};
use pf_common::kinds::{self, Verb};
use pf_common::writes::{self, Missing, Report};

/// Delete objects: flow runs, task runs, flows, deployments, schedules, work pools, work
/// queues, workers, artifacts, blocks, automations, variables, concurrency limits.
///
/// REFs are ids or names, in the forms pf-describe takes (FLOW/DEPLOYMENT, POOL/QUEUE,
/// POOL/WORKER, TYPE/NAME, DEPLOYMENT/SCHEDULE); an artifact KEY deletes every version of the
/// key. With no REF, or `-`, REFs are read from stdin (one per line, or NDJSON whose `id` is
/// taken), so `pf-get flow-runs --state failed --until 30d --all | pf-rm flow-runs` works.
///
/// Flow runs, flows and deployments go through the server's bulk endpoints, 50 per request
/// (one request per object on servers without them). Each REF gets a row: REF, KIND, NAME,
/// RESULT (deleted, already deleted, not found, refused: the server's reason). An id that
/// names nothing any more is "already deleted", so running the same command twice succeeds
/// both times; a name that names nothing is "not found" (exit 4).
///
/// On a terminal, deleting more than one object asks first (--yes skips).
#[derive(Debug, Parser)]
#[command(name = "pf-rm", version, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// What to delete (singular or plural)
    #[arg(value_name = "KIND", value_parser = kind_values())]
    kind: String,
    /// Ids or names; read from stdin when none is given
    #[arg(value_name = "REF")]
    refs: Vec<String>,
    /// Resolve the REFs and list what would be deleted; delete nothing
    #[arg(long)]
    dry_run: bool,
    /// Do not ask before deleting more than one object
    #[arg(long, short)]
    yes: bool,
    /// One DELETE per object even where the server has a bulk endpoint (slower; for benchmarks)
    #[arg(long)]
    per_item: bool,
}

const EXAMPLES: &str = "Examples:
  pf-rm flow-run turquoise-gazelle
  pf-get flow-runs --state failed --until 30d --all | pf-rm flow-runs --yes
  pf-rm deployment etl/nightly --dry-run
  pf-rm work-queue default/low-priority
  pf-rm artifact nightly-report            # every version of the key
  pf-rm schedule etl/nightly/0b6f5c1e-…";

fn kind_values() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(kinds::possible_values(Verb::Delete))
}

fn main() -> ExitCode {
    pf_common::cli::run(|cli: Cli| -> anyhow::Result<i32> {
        let kind = kinds::find_for(&cli.kind, Verb::Delete)?;
        let mut printer = cli.output.printer()?;
        let client = cli.connection.client()?;
        let mut report = Report::new("pf-rm", kind, &mut printer);
        let missing = Missing::IdIsDone("already deleted");
        let targets = writes::resolve_all(&client, kind, &cli.refs, true, missing, &mut report)?;
        if cli.dry_run {
            for target in &targets {
                report.ok(&target.reference, &target.object, "would delete")?;
            }
            return Ok(report.finish()?);
        }
        let question = format!("Delete {} {}s?", targets.len(), kind.label());
        writes::confirm_many(targets.len(), cli.yes, &question)?;
        report.show_progress(targets.len(), &format!("{}s deleted", kind.label()));
        writes::delete_all(&client, kind, targets, cli.per_item, &mut report)?;
        Ok(report.finish()?)
    })
}
