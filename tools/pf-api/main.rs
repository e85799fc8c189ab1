//! pf-api: one raw, authenticated request to the Prefect API, with pf's config, auth, CSRF
//! handling and retries.

mod body;
mod print;

use std::process::ExitCode;

use clap::Parser;
use pf_common::answer::Body;
use pf_common::cli::ConnectionArgs;
use pf_common::client::{Method, Request, check_status};
use pf_common::output::{Printer, TableMode};
use pf_common::paging::{PageSource, chain};
use pf_common::{Client, Error};
use serde_json::Value;

/// Send one request to the Prefect API and print the answer: pretty JSON on a terminal,
/// compact in a pipe.
///
/// PATH is relative to the API URL (`flows/filter`, `/health`; a leading `/api/` is dropped),
/// or a full URL. The body comes from -d (JSON text, @FILE, or @- for stdin), else from stdin
/// when it is not a terminal (POST, PUT, PATCH). `--paginate` walks every offset page of a
/// `…/filter` endpoint (or the token pages of `events/filter`) and prints one object per line;
/// a `limit` in the body caps the whole walk and an `offset` is where it starts.
///
/// An HTTP error prints the server's answer on stdout, a one-line error on stderr, and exits 3
/// (401/403), 4 (other 4xx) or 5 (5xx); 7 when the server cannot be reached.
#[derive(Debug, Parser)]
#[command(name = "pf-api", version, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// HTTP method: GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS
    #[arg(value_name = "METHOD")]
    method: String,
    /// API path (`flows/filter`) or a full URL
    #[arg(value_name = "PATH")]
    path: String,
    /// Request body: JSON text, @FILE, or @- for stdin
    #[arg(short = 'd', long = "data", value_name = "JSON")]
    data: Option<String>,
    /// An extra request header, `Name: value` (repeatable)
    #[arg(
        short = 'H',
        long = "header",
        value_name = "K:V",
        conflicts_with = "paginate"
    )]
    headers: Vec<String>,
    /// Walk every page of a POST …/filter endpoint, one object per line
    #[arg(long)]
    paginate: bool,
    /// jq filter run on the answer (with --paginate: on each object); strings print raw
    #[arg(long, value_name = "EXPR")]
    jq: Option<String>,
}

const EXAMPLES: &str = "Examples:
  pf-api GET /health
  pf-api POST flows/filter -d '{\"limit\": 5}' --jq '.[].name'
  pf-api POST flow_runs/filter --paginate -d @filter.json | wc -l
  pf-api PATCH deployments/0b6f5c1e-… -d '{\"paused\": true}'
  pf-api DELETE variables/name/old-setting";

fn main() -> ExitCode {
    pf_common::cli::run(|cli: Cli| -> anyhow::Result<i32> {
        let method = Method::parse(&cli.method).ok_or_else(|| {
            Error::usage_hint(
                format!("unknown method '{}'", cli.method),
                "use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS",
            )
        })?;
        if cli.paginate && (method != Method::Post || !is_filter_like(&cli.path)) {
            return Err(Error::usage_hint(
                format!(
                    "--paginate walks POST …/filter endpoints, not {} {}",
                    method.as_str(),
                    pf_common::input::shorten(&cli.path)
                ),
                "pf-api POST flow_runs/filter --paginate (without --paginate the request is sent as it is)",
            )
            .into());
        }
        let headers = cli
            .headers
            .iter()
            .map(|h| body::parse_header(h))
            .collect::<Result<Vec<_>, _>>()?;
        let body = body::request_body(cli.data.as_deref(), method)?;
        let mut printer =
            Printer::new(None, cli.jq.as_deref(), false)?.with_table_mode(TableMode::PrettyJson);
        let client = cli.connection.client()?;
        let path = body::api_path(&client, &cli.path);
        if cli.paginate {
            let body = body.unwrap_or_else(|| serde_json::json!({}));
            // A `limit` in the body caps the whole walk; an `offset` is where it starts.
            let limit = body
                .get("limit")
                .and_then(Value::as_u64)
                .map(|l| l as usize);
            let source = if path.trim_end_matches('/').ends_with("events/filter") {
                PageSource::Events { body }
            } else {
                PageSource::Offset { path, body }
            };
            for page in chain(&client, vec![source], limit) {
                printer.page(&page?, |_| Vec::new())?;
            }
            printer.finish()?;
            return Ok(0);
        }
        send(
            &client,
            &mut printer,
            Request::new(method, path),
            body,
            headers,
            cli.jq.is_some(),
        )
    })
}

fn send(
    client: &Client,
    printer: &mut Printer,
    mut request: Request,
    body: Option<Value>,
    headers: Vec<(String, String)>,
    jq: bool,
) -> anyhow::Result<i32> {
    if let Some(body) = body {
        request = request.json(body);
    }
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let (method, path) = (request.method, request.path.clone());
    // A large answer stays in a temporary file and a list is printed as it is parsed.
    let answer = client.send_answer(request)?;
    if answer.is_success() {
        print::print_answer(printer, answer.body, jq)?;
        return Ok(0);
    }
    // The server's own answer is what a script debugging a request needs; --jq is for answers.
    // An error body is only its first 64 KiB (error::MAX_ERROR_BODY).
    let response = answer.into_response()?;
    let failed = check_status(method, &path, &response);
    let mut plain = Printer::new(None, None, false)?.with_table_mode(TableMode::PrettyJson);
    print::print_answer(&mut plain, Body::Memory(response.body), false)?;
    failed?;
    Ok(0)
}

/// Paths that list with limit/offset: `…/filter` (and `events/filter`). Anything else (a
/// create, an update) would be sent again per page, so `--paginate` refuses it up front.
fn is_filter_like(path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path).trim_end_matches('/');
    path.ends_with("/filter") || path == "filter"
}
