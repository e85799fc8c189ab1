//! pf-run: start a flow run of a deployment (or run a local flow through Python), print it, and
//! optionally watch it to the end.

mod execute;
mod plan;
mod python;
mod schedule;
mod watch;

use std::process::ExitCode;

use clap::Parser;
use pf_common::cli::{ConnectionArgs, OutputArgs};

/// Start a flow run and print its name, id and state (a table on a terminal, NDJSON in a pipe).
///
/// The run comes from a deployment (`-n FLOW/DEPLOYMENT` or `-i ID`), or from local Python code
/// (`-p FILE` / `-m MODULE` with `-n FUNCTION`), which runs in a child Python process with the
/// installed `prefect` and reports to the same API. Parameters are checked against the flow's
/// parameter schema before the run is created. Every create carries an idempotency key (yours,
/// or one pf-run makes), so a retried request never makes two runs.
///
/// Exit status with --watch, --execute and local runs: 0 when the run ended COMPLETED, 1 when
/// it ended otherwise, 6 when --timeout ran out, 130 when interrupted.
#[derive(Debug, Parser)]
#[command(name = "pf-run", version, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    output: OutputArgs,

    /// Deployment id to run
    #[arg(short, long, value_name = "UUID", help_heading = "What to run")]
    id: Option<String>,
    /// FLOW/DEPLOYMENT (a bare FLOW when it has one deployment); with -p/-m: the flow function
    #[arg(short, long, value_name = "NAME", help_heading = "What to run")]
    name: Option<String>,
    /// Not in Prefect 2+ (there are no projects): an error pointing to -n FLOW/DEPLOYMENT
    #[arg(long, value_name = "NAME", help_heading = "What to run")]
    project: Option<String>,
    /// Run a flow from this Python file (locally, through Python prefect)
    #[arg(short, long, value_name = "FILE", help_heading = "What to run", conflicts_with_all = ["id", "module"])]
    path: Option<String>,
    /// Run a flow from this Python module (locally, through Python prefect)
    #[arg(
        short,
        long,
        value_name = "MODULE",
        help_heading = "What to run",
        conflicts_with = "id"
    )]
    module: Option<String>,
    /// Python interpreter for -p/-m and --execute [default: python3]
    #[arg(
        long,
        value_name = "PYTHON",
        env = "PF_PYTHON",
        help_heading = "What to run"
    )]
    python: Option<String>,

    /// A parameter as KEY=JSON (repeatable); a value that is not JSON is a string
    #[arg(long = "param", value_name = "KEY=JSON", help_heading = "Run options")]
    params: Vec<String>,
    /// All parameters as one JSON object (under --param); `-` reads it from stdin
    #[arg(long = "params", value_name = "JSON", help_heading = "Run options")]
    params_json: Option<String>,
    /// A JSON file of parameters (`-` = stdin); --params and --param win over it
    #[arg(long, value_name = "FILE", help_heading = "Run options")]
    param_file: Option<String>,
    /// Name of the flow run; `{param}` is replaced by that parameter's value
    #[arg(
        long,
        alias = "flow-run-name",
        value_name = "NAME",
        help_heading = "Run options"
    )]
    run_name: Option<String>,
    /// A tag for the run (repeatable)
    #[arg(long = "tag", value_name = "TAG", help_heading = "Run options")]
    tags: Vec<String>,
    /// A label KEY=VALUE for the run (repeatable); a plain LABEL without `=` is a tag
    #[arg(long = "label", value_name = "KEY=VALUE", help_heading = "Run options")]
    labels: Vec<String>,
    /// A context value KEY=JSON for the run (repeatable)
    #[arg(
        long = "context",
        value_name = "KEY=JSON",
        help_heading = "Run options"
    )]
    context: Vec<String>,
    /// Logging level of the run (through PREFECT_LOGGING_LEVEL in its environment)
    #[arg(long, value_name = "LEVEL", help_heading = "Run options")]
    log_level: Option<String>,
    /// A job variable KEY=JSON for the worker's infrastructure (repeatable)
    #[arg(
        long = "job-variable",
        value_name = "KEY=JSON",
        help_heading = "Run options"
    )]
    job_variables: Vec<String>,
    /// Work queue of the deployment's work pool to run in
    #[arg(long, value_name = "NAME", help_heading = "Run options")]
    work_queue: Option<String>,
    /// Schedule the run this far in the future: 10m, 2h, '20 minutes', '2 weeks & 1 day' (a
    /// date works too, as --start-at)
    #[arg(
        long,
        value_name = "DURATION",
        conflicts_with = "start_at",
        help_heading = "Run options"
    )]
    start_in: Option<String>,
    /// Schedule the run at this time: RFC 3339, 'tomorrow 9am', 'January 2nd 2043',
    /// '12-1-2022 5pm', '5-17-43 5:30pm UTC' (local time unless a zone is named), @SECONDS
    #[arg(long, value_name = "TIME", help_heading = "Run options")]
    start_at: Option<String>,
    /// Idempotency key: the same key again gives the same run (reported as "existing")
    #[arg(long, value_name = "KEY", help_heading = "Run options")]
    idempotency_key: Option<String>,

    /// Execute the run here in a child Python process, without a worker
    #[arg(long, help_heading = "Execution")]
    execute: bool,
    /// Local runs only: run the flow at each time of --cron or --interval until interrupted
    #[arg(short, long, help_heading = "Execution")]
    schedule: bool,
    /// With --schedule: a cron expression (minute hour day month weekday, local time)
    #[arg(
        long,
        value_name = "EXPR",
        conflicts_with = "interval",
        help_heading = "Execution"
    )]
    cron: Option<String>,
    /// With --schedule: run every DURATION (30s, 10m, 1h)
    #[arg(long, value_name = "DURATION", help_heading = "Execution")]
    interval: Option<String>,

    /// Print only the run's id
    #[arg(short, long, help_heading = "Output and waiting")]
    quiet: bool,
    /// Open the run's page in the web UI ($BROWSER, else the desktop's opener) once created
    #[arg(long, help_heading = "Output and waiting")]
    web: bool,
    /// Wait until the run ends: live states and logs on a terminal, NDJSON events in a pipe
    #[arg(short, long, help_heading = "Output and waiting")]
    watch: bool,
    /// Leave out the run's logs (--watch) and the flow process's console output (--execute, -p/-m)
    #[arg(long, help_heading = "Output and waiting")]
    no_logs: bool,
    /// Give up waiting after DURATION (exit 6)
    #[arg(
        long,
        alias = "watch-timeout",
        value_name = "DURATION",
        help_heading = "Output and waiting"
    )]
    timeout: Option<String>,
}

const EXAMPLES: &str = "Examples:
  pf-run -n etl/nightly                          # start a run of a deployment
  pf-run -n etl/nightly --quiet | pf-logs --follow
  pf-run -n hello-world --watch                  # a flow with one deployment; wait, show logs
  pf-run -n hello-world --label example --label hello
  pf-run -i 9a1cd70c-37d7-4cd4-ab91-d41c2700300d --param name=Marvin
  pf-run -n etl/nightly --param-file params.json --param day='\"2024-05-01\"'
  pf-run -n etl/nightly --start-in 2h --tag backfill
  pf-run -n hello-world --execute                # run it here, without a worker
  pf-run -p hello.py -n hello --param name=Marvin  # a local flow, reported to the API
  pf-run -m prefect_examples.hello -s --interval 10m";

fn main() -> ExitCode {
    pf_common::cli::run(|cli: Cli| -> anyhow::Result<i32> {
        let plan = plan::Plan::from_cli(&cli)?;
        let mut printer = cli.output.printer()?;
        let client = cli.connection.client()?;
        if !plan.labels.is_empty() {
            let server = pf_common::server::info(&client);
            server.require(pf_common::server::RUN_LABELS, "--label KEY=VALUE")?;
        }
        let code = match &plan.target {
            plan::Target::Deployment(reference) => {
                execute::deployment_run(&client, &plan, reference, &mut printer)?
            }
            plan::Target::Local(source) => {
                execute::local_run(&client, &plan, source, &mut printer)?
            }
        };
        Ok(code)
    })
}
