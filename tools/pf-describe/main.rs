//! pf-describe: one object in full, with the related objects an operator asks for next.

mod summary;
mod tasks;

use std::process::ExitCode;

use clap::Parser;
use pf_common::cli::{Batch, ConnectionArgs, OutputArgs};
use pf_common::kinds::{self, Verb};
use pf_common::output::TableMode;
use pf_common::{Error, input, weburl};

/// Show objects: a readable summary on a terminal, the full objects as NDJSON in a pipe.
///
/// REFs are ids or names (deployments: FLOW/DEPLOYMENT; work queues: POOL/QUEUE; blocks:
/// TYPE/NAME; artifacts: a key, for its latest version). With no REF, or `-`, REFs are read
/// from stdin: one per line, or NDJSON objects whose `id` is taken, so `pf-get flow-runs |
/// pf-describe flow-run` works.
///
/// On a terminal flow runs, task runs, deployments, work pools, work queues and flows print as a summary
/// (as `kubectl describe`): a flow run's state and message, timings, parameters, tags, work
/// pool, UI URL, state history, task runs and subflow runs, artifacts and last log lines.
/// Other kinds, and `-o json`, print the full objects as JSON.
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
    #[arg(value_name = "KIND", value_parser = kind_values())]
    kind: String,
    /// Ids or names; read from stdin when none is given (for `tasks`: flow runs)
    #[arg(value_name = "REF")]
    refs: Vec<String>,
    /// tasks: the flow run whose task runs to show (id or name)
    #[arg(long, value_name = "REF")]
    flow_run: Option<String>,
    /// tasks: the task runs of this flow's most recent run
    #[arg(long, value_name = "NAME", conflicts_with = "flow_run")]
    flow: Option<String>,
    /// Open each object's page in the web UI ($BROWSER, else the desktop's opener) instead
    /// of printing it (flows, flow and task runs, deployments, work pools and queues, blocks,
    /// automations)
    #[arg(long)]
    web: bool,
}

const EXAMPLES: &str = "Examples:
  pf-describe flow-run turquoise-gazelle
  pf-describe deployment etl/nightly --jq .parameters
  pf-describe work-pool default --jq '.workers[].name'
  pf-describe block secret/db-password
  pf-describe tasks --flow etl
  pf-get flow-runs --state failed | pf-describe flow-run --jq .state.message";

/// The kinds pf-describe takes: every kind of the registry, and `tasks`.
fn kind_values() -> clap::builder::PossibleValuesParser {
    let mut values = kinds::possible_values(Verb::Describe);
    values.push(
        clap::builder::PossibleValue::new(TASKS)
            .help("Every task run of a flow run, with its state and timing"),
    );
    clap::builder::PossibleValuesParser::new(values)
}

/// The pseudo-kind that lists a flow run's task runs.
const TASKS: &str = "tasks";

fn main() -> ExitCode {
    pf_common::cli::run(|cli: Cli| -> anyhow::Result<i32> {
        let tasks = cli.kind == TASKS;
        if !tasks && (cli.flow_run.is_some() || cli.flow.is_some()) {
            return Err(Error::usage("--flow-run and --flow go with `pf-describe tasks`").into());
        }
        let client = cli.connection.client()?;
        if tasks {
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
        // One REF named on the command line prints as the object itself with -o json.
        let single = cli.refs.len() == 1 && cli.refs[0] != "-";
        let mut printer = cli
            .output
            .printer()?
            .with_table_mode(TableMode::PrettyJson)
            .with_single_json_object(single);
        let kind = kinds::find_for(&cli.kind, Verb::Describe)?;
        let any = serde_json::json!({"id": "x", "name": "x"});
        if cli.web && weburl::ui_path(kind.name, &any).is_none() {
            return Err(Error::usage(format!("the web UI has no page for a {}", kind.name)).into());
        }
        let settings = client.settings().clone();
        // A summary only where a person reads a table (not -o, --jq or a pipe).
        let human = printer.format() == pf_common::output::Format::Table && cli.output.jq.is_none();
        let mut batch = Batch::default();
        let mut summaries = 0;
        for reference in input::refs(&cli.refs)? {
            let described = reference
                .and_then(|r| kind.resolve(&client, &r))
                .and_then(|object| (kind.related)(&client, object))
                .map(|object| weburl::with_ui_url(&settings, kind.name, object));
            let Some(object) = batch.step("pf-describe", described) else {
                continue;
            };
            if cli.web {
                let url = pf_common::refs::str_field(&object, "ui_url");
                let opened = weburl::open_in_browser(url);
                if opened.is_ok() {
                    eprintln!("Opened {url}");
                }
                batch.record("pf-describe", opened);
            } else {
                let summary = if human {
                    summary::render(&client, kind.name, &object, printer.color())?
                } else {
                    None
                };
                match summary {
                    Some(text) => {
                        // Summaries of several objects are separated by a blank line.
                        let gap = if summaries > 0 { "\n" } else { "" };
                        summaries += 1;
                        printer.line(&format!("{gap}{}", text.trim_end()))?
                    }
                    None => printer.object(&object, |_| Vec::new())?,
                }
                batch.record("pf-describe", Ok(()));
            }
        }
        printer.finish()?;
        Ok(batch.exit_code())
    })
}
