//! pf-apply: create or update objects of any kind from files, a pipe, or `KIND NAME KEY=JSON…`.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use pf_common::Error;
use pf_common::apply::prepare::{Item, prepare};
use pf_common::apply::source::{self, Document, Origin};
use pf_common::apply::spec::ApplySpec;
use pf_common::apply::upsert::{Applier, Outcome};
use pf_common::apply::{diff, rows};
use pf_common::cli::{Batch, ConnectionArgs, OutputArgs};
use pf_common::output::{Format, stdin_is_terminal, stdout_is_terminal};
use pf_common::progress::Progress;

/// Create or update objects of any kind, declaratively (like kubectl apply).
///
/// Objects come from -f FILE (YAML, JSON or NDJSON; several files, a directory, or - for
/// stdin), from stdin when it is a pipe, or as one object from KIND NAME KEY=JSON… (a value
/// that is not JSON is a string, as pf-run --param). pf-get's NDJSON is valid input: the
/// fields the server owns (id, created, updated, status, counters) are ignored.
///
/// Each object's kind comes from its `kind` field, from --kind, or from its shape when that is
/// unambiguous. Kinds: block, variable, concurrency-limit (global; a tag limit is `tag:TAG`,
/// and pf-limit's `{tag, concurrency_limit}` shape is taken too), work-pool, work-queue, flow, deployment, automation. Objects are applied in that order.
///
/// An object is found by its natural key (NAME; FLOW/DEPLOYMENT; POOL/QUEUE; TYPE/NAME; TAG):
/// created when absent, only the fields that differ written when present, nothing written
/// when equal. Only the fields an object gives are compared and written. References are by
/// name (a deployment's flow_name, an automation action's deployment: FLOW/NAME) and resolve
/// on the target server; a name that does not resolve refuses that object.
///
/// Every object is checked (kind, fields, types against Prefect's API schema, duplicates)
/// before anything is written; a bad input exits 2 naming its file and line. Then one row per
/// object: KIND, NAME, RESULT (created / updated: fields / unchanged / refused: reason), ID.
/// --dry-run prints the same rows writing nothing; with -v or on a terminal it also prints
/// each object's field-level diff on stderr (block data as "(hidden)"). Exit 0 when every
/// object was applied, 1 when some were refused, the refusal's own code when all were.
#[derive(Debug, Parser)]
#[command(name = "pf-apply", version, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// A file (.yaml, .yml, .json, .ndjson), a directory of them, or - for stdin (repeatable)
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    files: Vec<String>,
    /// The kind of objects that have no `kind` field
    #[arg(long, value_name = "KIND")]
    kind: Option<String>,
    /// Show what would change; write nothing
    #[arg(long)]
    dry_run: bool,
    /// KIND NAME KEY=JSON…: one object built from arguments
    #[arg(value_name = "KIND NAME KEY=JSON")]
    object: Vec<String>,
}

const EXAMPLES: &str = "Examples:
  pf-apply work-pool etl type=process concurrency_limit=5
  pf-apply variable region value='\"eu-west-1\"'
  pf-apply deployment etl/nightly work_pool_name=etl 'tags=[\"prod\"]'
  pf-apply schedule etl/nightly slug='\"hourly\"' 'schedule={\"interval\": 3600}'
  pf-apply -f automations.yaml --dry-run
  pf-apply -f ./objects/
  pf-get work-pools --profile old -o ndjson | pf-apply --profile new
  pf-export --profile old | pf-apply --profile new";

fn main() -> ExitCode {
    pf_common::cli::run(|cli: Cli| -> anyhow::Result<i32> {
        let mut printer = cli.output.printer()?;
        let items = prepare(documents(&cli)?, cli.kind.as_deref())?;
        let client = cli.connection.client()?;
        let show_diff = cli.dry_run && (cli.connection.verbose || stdout_is_terminal());
        let mut applier = Applier::new(&client, cli.dry_run);
        let mut batch = Batch::default();
        printer.columns(rows::COLUMNS);
        // A table is aligned over all rows; NDJSON streams a row per object as it is applied.
        let table = printer.format() == Format::Table;
        let mut table_rows = Vec::new();
        let progress = if items.len() > 1 {
            Progress::new(Some(items.len() as u64), "objects applied")
        } else {
            Progress::none()
        };
        for item in &items {
            let result = applier.apply(item);
            if show_diff && let Ok(applied) = &result {
                progress.suspend(|| print_diff(item, &applied.outcome, &applied.changes));
            }
            progress.inc(1);
            let row = rows::row(item, &result);
            if table {
                table_rows.push(row);
            } else {
                progress.suspend(|| printer.object(&row, rows::cells))?;
            }
            let refused = result.map_err(|e| with_object(item, e));
            batch.record("pf-apply", refused);
        }
        progress.finish();
        printer.page(&table_rows, rows::cells)?;
        printer.finish()?;
        if cli.connection.verbose {
            eprintln!(
                "pf-apply: {} objects, {} write requests{}",
                items.len(),
                applier.writes(),
                if cli.dry_run { " (dry run)" } else { "" }
            );
        }
        Ok(batch.exit_code())
    })
}

/// The input: KIND NAME KEY=JSON…, else the -f paths, else stdin when it is a pipe.
fn documents(cli: &Cli) -> pf_common::Result<Vec<Document>> {
    match cli.object.as_slice() {
        [] if !cli.files.is_empty() => source::read_paths(&cli.files),
        [] if !stdin_is_terminal() => source::read_stdin(),
        [] => Err(Error::usage_hint(
            "nothing to apply",
            "give -f FILE, pipe objects in, or KIND NAME KEY=JSON…",
        )),
        _ if !cli.files.is_empty() => Err(Error::usage(
            "give either -f FILE or KIND NAME KEY=JSON…, not both",
        )),
        [_] => Err(Error::usage_hint(
            "KIND needs a NAME",
            "e.g. pf-apply work-pool etl type=process",
        )),
        [kind, name, assignments @ ..] => {
            let spec = ApplySpec::find_or_usage(kind)?;
            let mut value = source::from_arguments(assignments)?;
            spec.set_key(&mut value, name)?;
            value.insert("kind".into(), spec.kind.into());
            Ok(vec![Document {
                value,
                origin: Origin {
                    file: "arguments".into(),
                    line: 0,
                },
            }])
        }
    }
}

/// A refusal's message names the object (and where it was read).
fn with_object(item: &Item, error: Error) -> Error {
    let prefix = format!("{} '{}' ({})", item.spec.kind, item.name(), item.origin);
    let message = format!("{prefix}: {error}");
    match error {
        Error::Client { status, hint, .. } => Error::Client {
            status,
            message,
            hint,
        },
        Error::Usage { hint, .. } => Error::Usage { message, hint },
        Error::Auth { status, hint, .. } => Error::Auth {
            status,
            message,
            hint,
        },
        other => other,
    }
}

fn print_diff(item: &Item, outcome: &Outcome, changes: &[diff::FieldChange]) {
    let mark = match outcome {
        Outcome::Created => '+',
        Outcome::Updated(_) => '~',
        Outcome::Unchanged => return,
    };
    let hidden: &[&str] = if item.spec.kind == "block" {
        &["data"]
    } else {
        &[]
    };
    let mut stderr = std::io::stderr().lock();
    let _ = write!(
        stderr,
        "{mark} {} {}\n{}",
        item.spec.kind,
        item.name(),
        diff::render(changes, hidden)
    );
}
