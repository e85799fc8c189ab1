//! pf-resume: resume what pf-pause paused, and resume paused or suspended flow runs (with run
//! input for runs that wait for it).

use std::process::ExitCode;

use clap::Parser;
use pf_common::cli::{ConnectionArgs, OutputArgs};
use pf_common::kinds::{self, Verb};
use pf_common::writes::{self, BatchFlags, Missing, Report};

/// Resume objects, one result row per REF.
///
/// deployment, schedule, work-pool, work-queue: resumed; automation: enabled;
/// concurrency-limit: a global limit made active again. flow-run: a paused or suspended run
/// continues (`POST /flow_runs/{id}/resume`); a run that waits for input
/// (`pause_flow_run(wait_for_input=…)`) gets `--input`, checked first against the schema the
/// run published, and the server's answer is reported.
///
/// REFs are ids or names, as pf-describe takes them; with none, or `-`, they are read from
/// stdin. Resuming what is not paused is success ("already resumed"), so running the same
/// command twice succeeds both times. On a terminal, more than one REF asks first (--yes skips).
#[derive(Debug, Parser)]
#[command(name = "pf-resume", version, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// What to resume (singular or plural)
    #[arg(value_name = "KIND", value_parser = kind_values())]
    kind: String,
    /// Ids or names; read from stdin when none is given
    #[arg(value_name = "REF")]
    refs: Vec<String>,
    /// flow-run: the run input, a JSON object or @FILE
    #[arg(long, value_name = "JSON|@FILE")]
    input: Option<String>,
    /// Resolve the REFs (and check --input) and list what would be resumed; change nothing
    #[arg(long)]
    dry_run: bool,
    /// Do not ask before resuming more than one object
    #[arg(long, short)]
    yes: bool,
}

const EXAMPLES: &str = "Examples:
  pf-resume work-pool default
  pf-resume deployment etl/nightly
  pf-resume flow-run turquoise-gazelle
  pf-resume flow-run turquoise-gazelle --input '{\"approved\": true}'
  pf-get flow-runs --state paused | pf-resume flow-runs --yes";

fn kind_values() -> clap::builder::PossibleValuesParser {
    let mut values = kinds::possible_values(Verb::Pause);
    values.extend(kinds::possible_values(Verb::ResumeRun));
    clap::builder::PossibleValuesParser::new(values)
}

fn main() -> ExitCode {
    pf_common::cli::run(|cli: Cli| -> anyhow::Result<i32> {
        let run_kind = kinds::find(&cli.kind).filter(|k| k.supports(Verb::ResumeRun));
        if run_kind.is_none() && cli.input.is_some() {
            return Err(pf_common::Error::usage("--input goes with `pf-resume flow-run`").into());
        }
        let input = cli.input.as_deref().map(read_input).transpose()?;
        let flags = BatchFlags {
            dry_run: cli.dry_run,
            yes: cli.yes,
        };
        let mut printer = cli.output.printer()?;
        let client = cli.connection.client()?;
        let Some(kind) = run_kind else {
            let kind = kinds::find_for(&cli.kind, Verb::Pause)?;
            let code =
                writes::pause_or_resume(&client, &mut printer, kind, &cli.refs, false, flags)?;
            return Ok(code);
        };
        let mut report = Report::new("pf-resume", kind, &mut printer);
        let targets = writes::resolve_all(
            &client,
            kind,
            &cli.refs,
            false,
            Missing::NotFound,
            &mut report,
        )?;
        if !flags.dry_run {
            let question = format!("Resume {} flow runs?", targets.len());
            writes::confirm_many(targets.len(), flags.yes, &question)?;
        }
        pf_common::resume::resume_runs(
            &client,
            &targets,
            input.as_ref(),
            flags.dry_run,
            &mut report,
        )?;
        Ok(report.finish()?)
    })
}

/// `--input`: a JSON object, or `@FILE` holding one (`@-`: stdin).
fn read_input(text: &str) -> pf_common::Result<serde_json::Map<String, serde_json::Value>> {
    let text = match text.strip_prefix('@') {
        Some("-") => pf_common::input::read_stdin_text("--input")?,
        Some(path) => std::fs::read_to_string(path).map_err(|e| {
            pf_common::Error::usage(format!("cannot read --input file {path}: {e}"))
        })?,
        None => text.to_string(),
    };
    match serde_json::from_str(&text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(pf_common::Error::usage("--input must be a JSON object")),
        Err(e) => Err(pf_common::Error::usage(format!("--input is not JSON: {e}"))),
    }
}
