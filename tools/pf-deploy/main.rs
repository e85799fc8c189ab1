//! pf-deploy: register deployments from prefect.yaml or a flow entrypoint.

mod config;
mod flows;
mod report;
mod run;
mod spec;
mod template;
mod upsert;
mod version;

use std::process::ExitCode;

use clap::Parser;
use pf_common::cli::{ConnectionArgs, OutputArgs};

/// Create or update deployments, as `prefect deploy` does, and print a row per deployment
/// (NAME, ID, RESULT created/updated/unchanged, POOL, SCHEDULES; NDJSON in a pipe).
///
/// With ENTRYPOINT (`path/file.py:function`) pf-deploy deploys that flow as `-n NAME` into
/// `--pool POOL`. Without it, it reads ./prefect.yaml (or --prefect-file): the deployments that
/// `-n` selects (`NAME`, `FUNCTION/NAME` as `prefect deploy`, `*` patterns), all with `--all`, or
/// the only one. Anchors, `<<` merges and `definitions` work as in YAML; `{{ $ENV }}`, `{{ prefect.variables.NAME }}`,
/// `{{ prefect.blocks.TYPE.NAME }}` and build/push step outputs (`{{ step-id.field }}`) are
/// filled in; pull steps are stored as written. Build and push steps run in the user's Python
/// (--python / PF_PYTHON) with prefect, as does loading each flow for its name and parameter
/// schema (one Python process for the whole call).
///
/// Everything is checked before anything is written: entrypoints, flows, parameter defaults
/// against the flow's schema, work pools. An existing deployment is updated field by field;
/// unchanged fields are not written, schedules are replaced as a set only when they differ,
/// and a deployment with nothing to change is reported `unchanged` with no write.
///
/// Exit status: 0 all deployed (or unchanged), 1 some failed, 2 bad flags or prefect.yaml,
/// flow or parameters, 4 unknown work pool or other refusal by the server.
#[derive(Debug, Parser)]
#[command(name = "pf-deploy", version, disable_version_flag = true, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    output: OutputArgs,

    /// The flow to deploy, path/to/file.py:function (else prefect.yaml is read)
    #[arg(value_name = "ENTRYPOINT")]
    entrypoint: Option<String>,
    /// Deployment name; with prefect.yaml a selector: NAME, FUNCTION/NAME, `*` patterns (repeatable)
    #[arg(short, long = "name", value_name = "NAME")]
    names: Vec<String>,
    /// Deploy every deployment of prefect.yaml
    #[arg(long, conflicts_with_all = ["entrypoint", "names"])]
    all: bool,
    /// The prefect.yaml to read [default: ./prefect.yaml]
    #[arg(long, value_name = "FILE", conflicts_with = "entrypoint")]
    prefect_file: Option<String>,
    /// Python interpreter with prefect, to load flows and run steps [default: python3]
    #[arg(long, value_name = "PYTHON", env = "PF_PYTHON")]
    python: Option<String>,

    /// Work pool of the deployment
    #[arg(short, long, value_name = "POOL", help_heading = "Deployment")]
    pool: Option<String>,
    /// Work queue within the pool (made by the server when new)
    #[arg(
        short,
        long,
        alias = "work-queue",
        value_name = "QUEUE",
        help_heading = "Deployment"
    )]
    queue: Option<String>,
    /// Create the work pool with this type (process, docker, …) when it does not exist
    #[arg(long, value_name = "TYPE", help_heading = "Deployment")]
    create_pool: Option<String>,
    /// A cron schedule (repeatable)
    #[arg(long, value_name = "EXPR", help_heading = "Deployment")]
    cron: Vec<String>,
    /// An interval schedule: 30s, 10m, 1h, or seconds (repeatable)
    #[arg(long, value_name = "DURATION", help_heading = "Deployment")]
    interval: Vec<String>,
    /// An RRule schedule (repeatable)
    #[arg(long, value_name = "RRULE", help_heading = "Deployment")]
    rrule: Vec<String>,
    /// Anchor date of interval schedules (RFC 3339)
    #[arg(long, value_name = "TIME", help_heading = "Deployment")]
    anchor_date: Option<String>,
    /// Timezone of the schedules (IANA name, e.g. Europe/Paris)
    #[arg(long, value_name = "TZ", help_heading = "Deployment")]
    timezone: Option<String>,
    /// A default parameter as KEY=JSON (repeatable); a value that is not JSON is a string
    #[arg(long = "param", value_name = "KEY=JSON", help_heading = "Deployment")]
    params: Vec<String>,
    /// Default parameters as one JSON object (under --param)
    #[arg(long = "params", value_name = "JSON", help_heading = "Deployment")]
    params_json: Option<String>,
    /// A tag (repeatable; replaces the tags of prefect.yaml)
    #[arg(short, long = "tag", value_name = "TAG", help_heading = "Deployment")]
    tags: Vec<String>,
    /// A job variable KEY=JSON for the work pool's job template (repeatable)
    #[arg(
        long = "job-variable",
        value_name = "KEY=JSON",
        help_heading = "Deployment"
    )]
    job_variables: Vec<String>,
    /// Description [default: the flow's docstring]
    #[arg(short, long, value_name = "TEXT", help_heading = "Deployment")]
    description: Option<String>,
    /// Version of the deployment [default: Prefect's hash of the flow's file]
    #[arg(long = "version", value_name = "VERSION", help_heading = "Deployment")]
    version_label: Option<String>,
    /// Most runs of the deployment at once
    #[arg(
        long,
        alias = "concurrency-limit",
        value_name = "N",
        help_heading = "Deployment"
    )]
    concurrency: Option<u64>,
    /// With --concurrency: ENQUEUE or CANCEL_NEW runs over the limit
    #[arg(
        long,
        value_name = "STRATEGY",
        requires = "concurrency",
        help_heading = "Deployment"
    )]
    collision_strategy: Option<String>,
    /// Create the deployment paused (no scheduled runs)
    #[arg(long, help_heading = "Deployment")]
    paused: bool,
    /// Let runs take parameters the flow's schema does not allow
    #[arg(long, help_heading = "Deployment")]
    no_enforce_parameter_schema: bool,

    /// Do not run the build steps of prefect.yaml
    #[arg(long, help_heading = "Steps")]
    skip_build: bool,
    /// Do not run the push steps of prefect.yaml
    #[arg(long, help_heading = "Steps")]
    skip_push: bool,

    /// Show what would be written (a diff on a terminal) and write nothing
    #[arg(long, help_heading = "Output")]
    dry_run: bool,
    /// Print only the deployments' ids
    #[arg(long, help_heading = "Output")]
    quiet: bool,
    /// Print pf-deploy's version
    #[arg(short = 'V', action = clap::ArgAction::Version)]
    print_version: Option<bool>,
}

const EXAMPLES: &str = "Examples:
  pf-deploy flows/etl.py:nightly -n nightly --pool default --cron '0 3 * * *'
  pf-deploy flows/hello.py:hello -n dev --pool local --param name=Marvin --tag dev
  pf-deploy --all                                # every deployment of ./prefect.yaml
  pf-deploy -n load_data/nightly -n 'reports-*'  # some of them (FUNCTION/NAME, patterns)
  pf-deploy --all --dry-run                      # what would change
  pf-deploy --all --quiet | xargs -n1 pf-run -i  # deploy, then run each";

fn main() -> ExitCode {
    pf_common::cli::run(|cli: Cli| -> anyhow::Result<i32> {
        let request = run::Request::from_cli(&cli)?;
        let mut printer = cli.output.printer()?;
        let client = cli.connection.client()?;
        Ok(run::deploy(&client, &request, &mut printer)?)
    })
}
