//! pf-exec: run any command as an observed Prefect flow run, or serve it as a scheduled
//! deployment, without Python.

mod child;
mod job;
mod limits;
mod recorder;
mod serve;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use pf_common::cli::ConnectionArgs;
use pf_common::logs::parse_level;
use pf_common::params::{parse_key_json_map, split_key_value};
use pf_common::runs::new_idempotency_key;
use pf_common::time::parse_duration;
use pf_common::{Error, Result};
use serde_json::{Map, Value, json};

use child::Spec;
use job::Options;
use limits::LimitSpec;
use recorder::{NewRun, Recorder};

/// Run a command as a Prefect flow run: its output passes through unchanged and goes to the
/// run's logs, its exit code decides the run's final state, and pf-exec exits with the
/// command's own exit code.
///
/// The command runs directly (no shell unless --shell), with pf-exec's stdin. Each line it
/// prints goes to pf-exec's stdout/stderr as it was and to the run's logs (stdout at INFO,
/// stderr at WARNING or --stderr-level), at most 1 s or 100 lines late. Exit 0 ends the run
/// Completed; exit N Failed ("exit status N" and the last stderr lines); a signal Crashed;
/// --timeout Failed (TimedOut) after the command's process group is killed; SIGINT/SIGTERM to
/// pf-exec goes on to the command and the run ends Cancelled.
///
/// The server is never in the command's way: when it cannot be reached (at the start or any
/// time later), the command runs all the same, pf-exec says so once on stderr, keeps the log
/// lines in memory (8 MB at most) and sends them when the server is back, waiting for it at
/// most --flush-timeout at the end.
///
/// Exit status: the command's (128+N when a signal N killed it); 124 when --timeout ended it;
/// 126/127 when it cannot be run or is not found; 1 when --no-overlap skipped it; 2 for a usage
/// error of pf-exec itself. With --serve: 0 after SIGTERM/SIGINT.
///
/// With --serve, pf-exec creates or updates the deployment NAME/NAME (no work pool, as
/// `flow.serve` does) with the schedule, then polls for its due runs and runs each as above
/// (Pending → Running → …), --limit at once. Runs made with `pf-run -n NAME/NAME --param K=V`
/// get their parameters as environment variables PF_PARAM_K. A run cancelled in the UI or with
/// pf-state is stopped within a poll; a paused deployment gets no new runs; SIGTERM stops the
/// running commands (their runs end Cancelled) and then pf-exec.
#[derive(Debug, Parser)]
#[command(name = "pf-exec", version, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    connection: ConnectionArgs,

    /// Flow name [default: the command's file name]; with --serve also the deployment's name
    #[arg(short, long, value_name = "NAME")]
    name: Option<String>,
    /// Flow run name [default: one the server makes up]
    #[arg(long, value_name = "NAME")]
    run_name: Option<String>,
    /// Tag of the run (repeatable); with --serve, of the deployment
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Label KEY=VALUE of the run (repeatable)
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Parameter KEY=JSON, recorded on the run and given to the command as PF_PARAM_KEY
    /// (repeatable); with --serve, the deployment's default
    #[arg(long = "param", value_name = "KEY=JSON")]
    params: Vec<String>,
    /// Run this script with `sh -c` instead of a command
    #[arg(long, value_name = "SCRIPT", conflicts_with = "command")]
    shell: Option<String>,

    /// Level of stderr lines in the run's logs (stdout lines are INFO)
    #[arg(
        long,
        value_name = "LEVEL",
        default_value = "warning",
        help_heading = "Output"
    )]
    stderr_level: String,
    /// Do not send the output to the run's logs (it still passes through)
    #[arg(long, help_heading = "Output")]
    no_logs: bool,
    /// Do not pass the output through: it goes to the run's logs only, and pf-exec prints
    /// just the run id on stderr
    #[arg(short, long, help_heading = "Output")]
    quiet: bool,

    /// Stop the command (its whole process group) after this long: the run ends Failed
    /// (TimedOut) and pf-exec exits 124
    #[arg(long, value_name = "DURATION", help_heading = "Running")]
    timeout: Option<String>,
    /// Run the command again this many times when it fails or times out (AwaitingRetry, then
    /// Retrying, as Prefect records a flow's retries)
    #[arg(long, value_name = "N", default_value_t = 0, help_heading = "Running")]
    retries: u32,
    /// Wait between retries
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "0s",
        help_heading = "Running"
    )]
    retry_delay: String,
    /// Hold a slot (or SLOTS) of this global concurrency limit while the command runs;
    /// waits while the limit is full
    #[arg(long, value_name = "NAME[:SLOTS]", help_heading = "Running")]
    concurrency: Option<String>,
    /// Skip the command (the run ends Cancelled, "already running", exit 1) when another run
    /// of the flow is Running: `flock -n` for cron, visible in Prefect
    #[arg(long, help_heading = "Running")]
    no_overlap: bool,
    /// At the end, wait at most this long for an unreachable server to take the final state
    /// and the log lines
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "30s",
        help_heading = "Running"
    )]
    flush_timeout: String,
    /// Send a heartbeat event this often while the command runs (0: never), so the server can
    /// mark runs of a vanished pf-exec Crashed
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "30s",
        help_heading = "Running"
    )]
    heartbeat: String,

    /// Serve the command as the deployment NAME/NAME and run its scheduled runs
    #[arg(long, requires = "name", help_heading = "Serve")]
    serve: bool,
    /// Schedule: a cron expression
    #[arg(long, value_name = "CRON", requires = "serve", conflicts_with_all = ["interval", "rrule"], help_heading = "Serve")]
    cron: Option<String>,
    /// Schedule: every DURATION
    #[arg(
        long,
        value_name = "DURATION",
        requires = "serve",
        conflicts_with = "rrule",
        help_heading = "Serve"
    )]
    interval: Option<String>,
    /// Schedule: an RFC 5545 RRULE
    #[arg(long, value_name = "RRULE", requires = "serve", help_heading = "Serve")]
    rrule: Option<String>,
    /// Time zone of the schedule (IANA name) [default: UTC]
    #[arg(long, value_name = "TZ", requires = "serve", help_heading = "Serve")]
    timezone: Option<String>,
    /// Most runs at once
    #[arg(
        long,
        value_name = "N",
        default_value_t = 5,
        requires = "serve",
        help_heading = "Serve"
    )]
    limit: u32,
    /// How often to look for due runs and cancellations
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10s",
        requires = "serve",
        help_heading = "Serve"
    )]
    poll: String,

    /// The command and its arguments (after --)
    #[arg(
        value_name = "CMD",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    command: Vec<String>,
}

const EXAMPLES: &str = "Examples:
  pf-exec -n nightly-backup -- /usr/local/bin/backup.sh --full
  0 3 * * *  pf-exec -n nightly-backup --no-overlap --tag backup -- backup.sh   (crontab)
  pf-exec --shell 'pg_dump db | gzip > /backups/db.gz' -n db-dump --timeout 2h
  pf-exec --concurrency warehouse --retries 2 --retry-delay 5m -- dbt run
  pf-exec --serve -n nightly-backup --cron '0 3 * * *' -- backup.sh";

fn main() -> ExitCode {
    child::handle_signals();
    pf_common::cli::run(|cli: Cli| -> anyhow::Result<i32> { Ok(exec(cli)?) })
}

fn exec(cli: Cli) -> Result<i32> {
    let argv = match (&cli.shell, cli.command.is_empty()) {
        (Some(script), _) => vec!["sh".to_string(), "-c".to_string(), script.clone()],
        (None, false) => cli.command.clone(),
        (None, true) => {
            return Err(Error::usage_hint(
                "no command given",
                "put the command after --: pf-exec -n NAME -- CMD [ARGS…]",
            ));
        }
    };
    let flow = match &cli.name {
        Some(name) if !name.trim().is_empty() => name.clone(),
        Some(_) => return Err(Error::usage("--name must not be empty")),
        None => default_flow_name(&cli, &argv),
    };
    let params = parse_key_json_map(&cli.params, "--param")?;
    let labels = parse_labels(&cli.labels)?;
    let options = options(&cli, argv)?;
    let heartbeat = match parse_duration(&cli.heartbeat)? {
        d if d.is_zero() => None,
        d => Some(d.max(Duration::from_secs(1))),
    };
    if cli.serve {
        let client = cli.connection.client()?;
        let schedule = serve::schedule(&cli.cron, &cli.interval, &cli.rrule, &cli.timezone)?;
        let poll =
            parse_duration(&cli.poll)?.clamp(Duration::from_millis(500), Duration::from_secs(3600));
        if cli.limit == 0 {
            return Err(Error::usage("--limit must be at least 1"));
        }
        let served = serve::Served {
            flow,
            schedule,
            params,
            tags: cli.tags.clone(),
            limit: cli.limit as usize,
            poll,
            heartbeat,
            verbose: cli.connection.verbose,
            quiet: cli.quiet,
        };
        return serve::serve(client, &served, &options);
    }
    let mut body = json!({
        "parameters": params,
        "tags": cli.tags,
        "labels": labels,
        "state": { "type": "RUNNING", "message": "pf-exec" },
        "empirical_policy": { "retries": options.retries, "retry_delay": options.retry_delay.as_secs() },
        "idempotency_key": new_idempotency_key(),
    });
    if let Some(name) = &cli.run_name {
        body["name"] = json!(name);
    }
    let env = param_env(&params);
    // Settings that cannot be read must not stop the job: it runs unrecorded.
    let client = cli
        .connection
        .client()
        .map_err(|e| pf_common::cli::warn("pf-exec", format!("the flow run is not recorded: {e}")))
        .ok();
    let mut recorder = Recorder::new(client, None, Some(NewRun { flow, body }), heartbeat);
    if let Some(run) = recorder.ensure_run() {
        announce(&run, cli.quiet);
    }
    let outcome = job::run(&mut recorder, &options, env, None);
    Ok(outcome.exit_code())
}

/// Say which run this is: the id alone with --quiet, and a line on a terminal otherwise (never
/// in cron mail or a CI log, where the command's own output is what counts).
fn announce(run: &recorder::RunInfo, quiet: bool) {
    if quiet {
        eprintln!("{}", run.id);
    } else if std::io::stderr().is_terminal() {
        eprintln!("pf-exec: flow run '{}' ({})", run.name, run.id);
    }
}

fn options(cli: &Cli, argv: Vec<String>) -> Result<Options> {
    let stderr_level = parse_level(&cli.stderr_level)?;
    let timeout = cli.timeout.as_deref().map(parse_duration).transpose()?;
    if timeout.is_some_and(|t| t.is_zero()) {
        return Err(Error::usage("--timeout must be more than 0s"));
    }
    if cli.retries > 1000 {
        return Err(Error::usage("--retries must be at most 1000"));
    }
    let concurrency = cli
        .concurrency
        .as_deref()
        .map(LimitSpec::parse)
        .transpose()?;
    Ok(Options {
        spec: Spec {
            argv,
            env: Vec::new(),
            pass_through: !cli.quiet,
            log: !cli.no_logs,
            stderr_level,
            own_group: !std::io::stdin().is_terminal(),
        },
        timeout,
        retries: cli.retries,
        retry_delay: parse_duration(&cli.retry_delay)?,
        concurrency,
        no_overlap: cli.no_overlap,
        flush_timeout: parse_duration(&cli.flush_timeout)?,
        kill_grace: Duration::from_secs(5),
    })
}

/// The command's file name (`backup.sh` for `/usr/local/bin/backup.sh`); with --shell, the
/// first word's.
fn default_flow_name(cli: &Cli, argv: &[String]) -> String {
    let first = match &cli.shell {
        Some(script) => script
            .split_whitespace()
            .next()
            .unwrap_or("shell")
            .to_string(),
        None => argv[0].clone(),
    };
    first
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("shell")
        .to_string()
}

fn parse_labels(items: &[String]) -> Result<Map<String, Value>> {
    let mut labels = Map::new();
    for item in items {
        let (key, value) = split_key_value(item, "--label")?;
        labels.insert(key.to_string(), json!(value));
    }
    Ok(labels)
}

/// `PF_PARAM_<NAME>` for each parameter: NAME upper-cased with other characters than letters
/// and digits as `_`; a string's value as it is, any other value as compact JSON.
pub fn param_env(params: &Map<String, Value>) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(name, value)| {
            let key: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (format!("PF_PARAM_{key}"), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_become_environment_variables() {
        let params = parse_key_json_map(
            &[
                "who=bob".into(),
                "max-age=3".into(),
                "opts={\"a\":1}".into(),
            ],
            "--param",
        )
        .unwrap();
        assert_eq!(
            param_env(&params),
            [
                ("PF_PARAM_WHO".to_string(), "bob".to_string()),
                ("PF_PARAM_MAX_AGE".to_string(), "3".to_string()),
                ("PF_PARAM_OPTS".to_string(), "{\"a\":1}".to_string()),
            ]
        );
    }
}
