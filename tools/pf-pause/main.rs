//! pf-pause: pause deployments, schedules, work pools and work queues; disable automations;
//! make global concurrency limits inactive. pf-resume undoes each.

use std::process::ExitCode;

use clap::Parser;
use pf_common::cli::{ConnectionArgs, OutputArgs};
use pf_common::kinds::{self, Verb};
use pf_common::writes::{self, BatchFlags};

/// Pause objects, one result row per REF.
///
/// deployment: every schedule of it (no new scheduled runs); schedule: one schedule of a
/// deployment (REF DEPLOYMENT/SCHEDULE); work-pool, work-queue: workers get no runs from it;
/// automation: disabled; concurrency-limit: a global limit made inactive.
///
/// REFs are ids or names, as pf-describe takes them; with none, or `-`, they are read from
/// stdin. Pausing what is paused is success ("already paused"), so running the same command
/// twice succeeds both times. On a terminal, more than one REF asks first (--yes skips).
#[derive(Debug, Parser)]
#[command(name = "pf-pause", version, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// What to pause (singular or plural)
    #[arg(value_name = "KIND", value_parser = kind_values())]
    kind: String,
    /// Ids or names; read from stdin when none is given
    #[arg(value_name = "REF")]
    refs: Vec<String>,
    /// Resolve the REFs and list what would be paused; change nothing
    #[arg(long)]
    dry_run: bool,
    /// Do not ask before pausing more than one object
    #[arg(long, short)]
    yes: bool,
}

const EXAMPLES: &str = "Examples:
  pf-pause work-pool default            # maintenance: workers get no new runs
  pf-pause deployment etl/nightly
  pf-pause work-queue default/low-priority
  pf-get automations --name 'page *' | pf-pause automations --yes
  pf-resume work-pool default";

fn kind_values() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(kinds::possible_values(Verb::Pause))
}

fn main() -> ExitCode {
    pf_common::cli::run(|cli: Cli| -> anyhow::Result<i32> {
        let kind = kinds::find_for(&cli.kind, Verb::Pause)?;
        let mut printer = cli.output.printer()?;
        let client = cli.connection.client()?;
        let flags = BatchFlags {
            dry_run: cli.dry_run,
            yes: cli.yes,
        };
        let code = writes::pause_or_resume(&client, &mut printer, kind, &cli.refs, true, flags)?;
        Ok(code)
    })
}
