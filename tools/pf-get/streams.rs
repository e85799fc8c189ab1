//! Events (token pages of `/events/filter`) and run logs (`/logs/filter`, as pf-logs reads them).

use clap::Args;
use pf_common::cli::{ConnectionArgs, OutputArgs};
use pf_common::events::{EventFollowOptions, follow_events};
use pf_common::filters::FilterBody;
use pf_common::listing::{Join, Joined, Rows};
use pf_common::logprint::{LogPrinter, print_runs, resolve_task_run};
use pf_common::logs::LogWindow;
use pf_common::logs::{LogQuery, parse_level};
use pf_common::output::{Format, Printer};
use pf_common::time::parse_time_ago;
use pf_common::{Error, Result, tables};
use serde_json::json;

use crate::kinds::{Paging, Plan, Source, time_value};

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only events that occurred at or after: 30m, 2h, 1d, RFC 3339 [default: the server's retention]
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only events that occurred at or before this time
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Only events of this resource: prefect.flow-run.<id>; a trailing `*` matches a prefix: prefect.deployment.* (repeatable)
    #[arg(long, value_name = "ID")]
    resource: Vec<String>,
    /// Only events of this name: prefect.flow-run.Failed; a trailing `*` matches a prefix: prefect.flow-run.* (repeatable)
    #[arg(long, value_name = "EVENT")]
    event: Vec<String>,
    /// Oldest first instead of newest first
    #[arg(long, conflicts_with = "follow")]
    reverse: bool,
    /// Keep printing events as they happen (from --since, else from now) until Ctrl-C or --timeout
    #[arg(short, long, conflicts_with_all = ["until", "limit", "all"])]
    pub follow: bool,
    #[command(flatten)]
    paging: Paging,
}

impl EventsArgs {
    pub fn plan(&self) -> Result<Plan> {
        let mut body = FilterBody::new();
        split_exact_and_prefixes(&mut body, "resource", "id", "id_prefix", &self.resource);
        split_exact_and_prefixes(&mut body, "event", "name", "prefix", &self.event);
        let body = body
            .set(&["order"], json!(if self.reverse { "ASC" } else { "DESC" }))
            .set_opt(&["occurred", "since"], time_value(self.since.as_deref())?)
            .set_opt(&["occurred", "until"], time_value(self.until.as_deref())?);
        let rows = Rows {
            columns: tables::EVENT_COLUMNS,
            join: Join::None,
            row: tables::event_row,
        };
        Ok(Plan {
            body,
            limit: self.paging.limit(Some(10)),
            source: Source::Events,
            rows,
            resolve: Vec::new(),
        })
    }
}

impl EventsArgs {
    /// `--follow`: print events as they happen, over the `/events/out` websocket where the
    /// server has it, else by polling `/events/filter`. Ends with 0 on Ctrl-C or `--timeout`.
    pub fn follow(
        &self,
        connection: &ConnectionArgs,
        output: &OutputArgs,
        timeout: Option<std::time::Duration>,
    ) -> Result<i32> {
        let since = self.since.as_deref().map(parse_time_ago).transpose()?;
        let mut body = FilterBody::new();
        split_exact_and_prefixes(&mut body, "resource", "id", "id_prefix", &self.resource);
        split_exact_and_prefixes(&mut body, "event", "name", "prefix", &self.event);
        let mut printer = output.printer()?;
        let client = connection.client()?;
        pf_common::cli::exit_0_on_interrupt();
        printer.columns(tables::EVENT_COLUMNS);
        let options = EventFollowOptions {
            filter: body.into_value(),
            since,
            stream: pf_common::logstream::supported(client.settings()),
            timeout,
            tool: "pf-get",
        };
        follow_events(&client, &options, |event| {
            printer.object(&event, |e| tables::event_row(e, &Joined::default()))?;
            Ok(true)
        })?;
        printer.finish()?;
        Ok(0)
    }
}

/// Values ending in `*` go to the `prefix_key` list of `filter`, the others to its exact list.
fn split_exact_and_prefixes(
    body: &mut FilterBody,
    filter: &str,
    exact_key: &str,
    prefix_key: &str,
    values: &[String],
) {
    let (prefixes, exact): (Vec<&String>, Vec<&String>) =
        values.iter().partition(|v| v.ends_with('*'));
    if !exact.is_empty() {
        body.insert(&[filter, exact_key], json!(exact));
    }
    if !prefixes.is_empty() {
        let prefixes: Vec<&str> = prefixes.iter().map(|p| p.trim_end_matches('*')).collect();
        body.insert(&[filter, prefix_key], json!(prefixes));
    }
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Logs of this flow run: id or name (repeatable)
    #[arg(long, visible_alias = "name", value_name = "REF")]
    flow_run: Vec<String>,
    /// Only logs of this task run (id or name)
    #[arg(long, value_name = "REF")]
    task_run: Option<String>,
    /// Only logs at or above this level: debug, info, warning, error, critical, or a number
    #[arg(long, value_name = "LEVEL")]
    level: Option<String>,
    /// Print the full log records as NDJSON, also on a terminal (the seed's `get logs --info`)
    #[arg(long)]
    info: bool,
    /// Only logs at or after this time: 30m, 2h, 1d, RFC 3339
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only logs whose text matches this (server-side text search, as pf-logs --grep)
    #[arg(long, visible_alias = "search", value_name = "TEXT")]
    grep: Option<String>,
    #[command(flatten)]
    paging: Paging,
}

impl LogsArgs {
    /// Print the runs' logs exactly as `pf-logs` does without `--follow`.
    pub fn print(&self, connection: &ConnectionArgs, output: &OutputArgs) -> Result<i32> {
        if self.flow_run.is_empty() && self.task_run.is_none() {
            return Err(Error::usage_hint(
                "pf-get logs needs a run",
                "pf-get logs --flow-run REF (or --task-run REF); follow a running one with pf-logs --follow",
            ));
        }
        let query = LogQuery {
            min_level: self.level.as_deref().map(parse_level).transpose()?,
            since: self.since.as_deref().map(parse_time_ago).transpose()?,
            text: self.grep.clone(),
            ..LogQuery::default()
        };
        let format = if self.info {
            Some(Format::Ndjson)
        } else {
            output.output
        };
        let printer = output.configure(Printer::new(format, output.jq.as_deref(), false)?);
        let client = connection.client()?;
        let targets = resolve_task_run(
            &client,
            self.task_run.as_deref(),
            query,
            self.flow_run.clone(),
        )?;
        let mut out = LogPrinter::new(printer);
        let window = LogWindow {
            head: self.paging.limit(None),
            ..LogWindow::default()
        };
        let code = print_runs(&client, &targets, window, &mut out, "pf-get")?;
        out.finish()?;
        Ok(code)
    }
}
