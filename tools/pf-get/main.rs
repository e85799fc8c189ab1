//! pf-get: list Prefect objects as a table on a terminal, NDJSON in a pipe.

mod kinds;
mod objects;
mod runs;
mod streams;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use pf_common::cli::{ConnectionArgs, OutputArgs};
use pf_common::listing::print_pages;
use pf_common::output::stdout_is_terminal;
use pf_common::paging::{PageSource, chain};
use pf_common::progress::Progress;
use pf_common::time::parse_duration;
use pf_common::watchlist::{WatchOptions, by_id_body, watch};
use pf_common::{Client, Error};

/// List Prefect objects: a table on a terminal, NDJSON (or TSV) in a pipe.
///
/// Filters run on the server. `--all` walks every page (200 at a time) and prints each page as
/// it arrives.
#[derive(Debug, Parser)]
#[command(name = "pf-get", version, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// List, then keep the list current until Ctrl-C or --timeout (flow-runs, task-runs,
    /// deployments, work-pools, work-queues, workers, automations): rows redrawn in place on a
    /// terminal, one NDJSON line per change in a pipe: {"what": listed|created|updated|deleted, "object": …}
    #[arg(short, long, global = true)]
    watch: bool,
    /// With --watch or `events --follow`: stop after this long (30s, 10m, 1h), exit 0
    #[arg(long, global = true, value_name = "DURATION")]
    timeout: Option<String>,
    #[command(subcommand)]
    kind: kinds::Kind,
}

const EXAMPLES: &str = "Examples:
  pf-get flow-runs --state failed --since 1d
  pf-get flow-runs --all --jq 'select(.total_run_time > 600) | .name'
  pf-get deployments --flow etl -o tsv --header
  pf-get workers --pool default --status online
  pf-get events --since 1h --event prefect.flow-run.Failed
  pf-get events --follow --event 'prefect.flow-run.*'
  pf-get flow-runs --watch --flow etl
  pf-get logs --flow-run turquoise-gazelle --level warning
  pf-get flow-runs --state failed --since 1d | pf-state retry";

fn main() -> ExitCode {
    pf_common::cli::run(|cli: Cli| -> anyhow::Result<i32> {
        let timeout = cli.timeout.as_deref().map(parse_duration).transpose()?;
        let following = matches!(&cli.kind, kinds::Kind::Events(e) if e.follow);
        if timeout.is_some() && !(cli.watch || following) {
            return Err(Error::usage("--timeout goes with --watch or events --follow").into());
        }
        let plan = match &cli.kind {
            kinds::Kind::Logs(logs) => return Ok(logs.print(&cli.connection, &cli.output)?),
            kinds::Kind::Events(events) if events.follow => {
                return Ok(events.follow(&cli.connection, &cli.output, timeout)?);
            }
            kind => kind.plan()?,
        };
        let watch_how = cli.kind.watch().filter(|_| cli.watch);
        if cli.watch && watch_how.is_none() {
            return Err(Error::usage_hint(
                "--watch works with flow-runs, task-runs, deployments, work-pools, work-queues, workers and automations",
                "follow events with: pf-get events --follow",
            )
            .into());
        }
        let mut printer = cli.output.printer()?;
        let client = cli.connection.client()?;
        let (sources, limit, rows) = plan.into_sources(&client)?;
        if let Some(how) = watch_how {
            pf_common::cli::exit_0_on_interrupt();
            let options = watch_options(&client, sources, limit, rows, how, timeout);
            watch(&client, &mut printer, options)?;
            return Ok(0);
        }
        // Progress on a terminal's stderr while a long listing goes to a file or a pipe.
        // The count costs a request: only when a bar can be shown at all.
        let progress =
            if !stdout_is_terminal() && std::io::stderr().is_terminal() && limit.is_none() {
                match count(&client, &sources) {
                    Some(total) if total > 200 => Progress::new(Some(total), "objects"),
                    _ => Progress::none(),
                }
            } else {
                Progress::none()
            };
        let pages = chain(&client, sources, limit).inspect(|page| {
            if let Ok(page) = page {
                progress.inc(page.len() as u64);
            }
        });
        print_pages(&client, &mut printer, pages, &rows)
            .map_err(|e| pf_common::server::explain_missing(&client, e))?;
        progress.finish();
        Ok(0)
    })
}

/// What `--watch` reads each tick: the listing's pages, and (for `{coll}/filter` listings)
/// a lookup by id that tells a deleted object from one that left the window.
fn watch_options<'a>(
    client: &'a Client,
    sources: Vec<PageSource>,
    limit: Option<usize>,
    rows: pf_common::listing::Rows,
    how: pf_common::kinds::Watch,
    timeout: Option<std::time::Duration>,
) -> WatchOptions<'a> {
    let filter_path = match sources.as_slice() {
        [PageSource::Offset { path, .. }] if by_id_body(path, &[]).is_some() => Some(path.clone()),
        _ => None,
    };
    let list = move || -> pf_common::Result<Vec<serde_json::Value>> {
        let mut all = Vec::new();
        for page in chain(client, sources.clone(), limit) {
            all.extend(page?);
        }
        Ok(all)
    };
    let exists = filter_path.map(|path| {
        Box::new(
            move |ids: &[String]| -> pf_common::Result<std::collections::HashSet<String>> {
                let body = by_id_body(&path, ids).unwrap_or_default();
                let found = client.post(&path, body)?;
                Ok(found
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|o| pf_common::refs::str_field(o, "id").to_string())
                    .collect())
            },
        ) as Box<dyn FnMut(&[String]) -> pf_common::Result<_> + 'a>
    });
    WatchOptions {
        rows,
        list: Box::new(list),
        exists,
        event_prefix: Some(how.events),
        clock_fields: how.clock_fields,
        timeout,
        tool: "pf-get",
    }
}

/// How many objects a single `{coll}/filter` listing has (`POST {coll}/count` with the same
/// filters), where the server counts; None otherwise.
fn count(client: &Client, sources: &[PageSource]) -> Option<u64> {
    let [PageSource::Offset { path, body }] = sources else {
        return None;
    };
    let collection = path.strip_suffix("/filter").filter(|c| !c.contains('/'))?;
    let mut body = body.clone();
    if let Some(map) = body.as_object_mut() {
        map.remove("sort");
        map.remove("limit");
        map.remove("offset");
    }
    client
        .post(&format!("{collection}/count"), body)
        .ok()?
        .as_u64()
}
