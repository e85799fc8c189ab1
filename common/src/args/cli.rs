//! What every tool shares on the command line: connection and output flags, the hidden
//! `--generate`, and the one "run a tool" wrapper (parse → run → print error → exit code).

use std::error::Error as StdError;
use std::io::Write;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser};

use crate::client::Client;
use crate::config::{Overrides, Settings};
use crate::error::{Error, Result};
use crate::output::{Format, Printer, TimeStyle};

/// `--api-url`, `--profile`, `-v`: where and how to connect.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// Prefect API URL (overrides PREFECT_API_URL and the profile)
    #[arg(long, global = true, value_name = "URL")]
    pub api_url: Option<String>,
    /// Profile of profiles.toml to use (overrides PREFECT_PROFILE and `active`)
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Print each request (method, path, status, ms) to stderr
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

impl ConnectionArgs {
    /// Resolve settings (flags > env > profile > default).
    pub fn settings(&self) -> Result<Settings> {
        Settings::load(&Overrides {
            api_url: self.api_url.clone(),
            profile: self.profile.clone(),
        })
    }

    /// Resolve settings and build the client.
    pub fn client(&self) -> Result<Client> {
        Client::new(self.settings()?, self.verbose)
    }
}

/// `-o`, `--jq`, `--header`/`--no-headers`, `--columns`, `--time`: how to print.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Output format [default: table on a terminal, ndjson in a pipe]
    #[arg(short, long, global = true, value_enum, value_name = "FORMAT")]
    pub output: Option<Format>,
    /// jq filter run on each object; string results print raw (like jq -r)
    #[arg(long, global = true, value_name = "EXPR")]
    pub jq: Option<String>,
    /// Print a header row (the default for table and csv; tsv has none unless asked)
    #[arg(long, global = true, overrides_with = "no_headers")]
    pub header: bool,
    /// Print no header row, in any format
    #[arg(long, global = true, alias = "no-header")]
    pub no_headers: bool,
    /// Show only these columns, in this order (table, tsv, csv), e.g. NAME,STATE,DURATION
    #[arg(long, global = true, value_name = "COLS", value_delimiter = ',')]
    pub columns: Vec<String>,
    /// How tables show times: relative ages (default), local or utc timestamps
    #[arg(long, global = true, value_enum, value_name = "STYLE")]
    pub time: Option<TimeStyle>,
}

impl OutputArgs {
    /// A printer for these flags (a bad --jq filter is a usage error here, before any request).
    pub fn printer(&self) -> Result<Printer> {
        Ok(self.configure(Printer::new(self.output, self.jq.as_deref(), false)?))
    }

    /// Apply the header, column and time flags to a printer a tool made itself.
    pub fn configure(&self, printer: Printer) -> Printer {
        let header = match (self.header, self.no_headers) {
            (_, true) => Some(false),
            (true, false) => Some(true),
            (false, false) => None,
        };
        printer
            .with_header(header)
            .with_columns(Some(self.columns.clone()))
            .with_times(self.time.unwrap_or_default())
    }
}

/// Run a tool: handle `--generate`, parse flags, run `body`, print any error as
/// `TOOL: error: …` (+ `hint: …`) and exit with the code its type maps to. A closed stdout
/// (`| head -1`) ends quietly with 0.
///
/// `body` returns an error that can be seen as a std error (anyhow's `Error` is); the exit
/// code comes from the first [`Error`] in its source chain, else 1.
pub fn run<A, E>(body: impl FnOnce(A) -> std::result::Result<i32, E>) -> ExitCode
where
    A: Parser + 'static,
    E: AsRef<dyn StdError + Send + Sync + 'static>,
{
    crate::complete::answer_if_asked(A::command);
    let mut command = A::command();
    let tool = command.get_name().to_string();
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args
        .iter()
        .position(|a| a == "--generate" || a.starts_with("--generate="))
    {
        let what = match args[pos].split_once('=') {
            Some((_, w)) => Some(w.to_string()),
            None => args.get(pos + 1).cloned(),
        };
        return generate(&mut command, what.as_deref());
    }
    let parsed = match A::try_parse() {
        Ok(parsed) => parsed,
        Err(e) => return report_usage(&tool, &e),
    };
    match body(parsed) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => report(&tool, e.as_ref()),
    }
}

/// Print a clap error the pf way: help and version as clap prints them; a usage error as one
/// `TOOL: error: …` line and a `hint:` (clap's tip, or where to read the usage), exit 2.
fn report_usage(tool: &str, error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let code = error.exit_code();
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = error.print();
        return ExitCode::from(code as u8);
    }
    let text = error.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid arguments");
    let message = first.strip_prefix("error: ").unwrap_or(first);
    // Required arguments are listed on the lines after the first.
    let mut details = Vec::new();
    let mut tip = None;
    let mut usage = None;
    for line in lines {
        if let Some(t) = line.strip_prefix("tip: ") {
            tip.get_or_insert_with(|| t.to_string());
        } else if let Some(u) = line.strip_prefix("Usage: ") {
            usage.get_or_insert_with(|| u.to_string());
        } else if !line.starts_with("For more information") {
            details.push(line.to_string());
        }
    }
    let message = if details.is_empty() {
        message.to_string()
    } else {
        format!("{} {}", message, details.join(", "))
    };
    let hint = tip.unwrap_or_else(|| match usage {
        Some(u) => format!("usage: {u} (see --help)"),
        None => format!("see '{tool} --help'"),
    });
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{tool}: error: {message}");
    let _ = writeln!(stderr, "hint: {hint}");
    ExitCode::from(code as u8)
}

fn report(tool: &str, error: &(dyn StdError + Send + Sync + 'static)) -> ExitCode {
    let pf_error = find_pf_error(error);
    if pf_error.is_some_and(Error::is_broken_pipe) || is_broken_pipe(error) {
        return ExitCode::SUCCESS;
    }
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        source = s.source();
    }
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{tool}: error: {}", printable(&message));
    if let Some(hint) = pf_error.and_then(Error::hint) {
        let _ = writeln!(stderr, "hint: {}", printable(hint));
    }
    let code = pf_error.map_or(crate::error::EXIT_FAILED, Error::exit_code);
    ExitCode::from(code as u8)
}

fn find_pf_error<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a Error> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<Error>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

fn is_broken_pipe(error: &(dyn StdError + 'static)) -> bool {
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::BrokenPipe
        {
            return true;
        }
        current = e.source();
    }
    false
}

fn generate(command: &mut clap::Command, what: Option<&str>) -> ExitCode {
    use clap_complete::Shell;
    let name = command.get_name().to_string();
    let mut out = std::io::stdout().lock();
    let shell = match what {
        Some("man") => {
            return match man_page(command).and_then(|page| out.write_all(&page)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{name}: error: {e}");
                    ExitCode::from(1)
                }
            };
        }
        Some("complete-bash-static") => Shell::Bash,
        Some("complete-zsh-static") => Shell::Zsh,
        Some("complete-fish-static") => Shell::Fish,
        Some(dynamic @ ("complete-bash" | "complete-zsh" | "complete-fish")) => {
            let shell = dynamic.trim_start_matches("complete-");
            let script = crate::complete::registration(shell, &name).unwrap_or_default();
            return match out.write_all(&script) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::from(1),
            };
        }
        other => {
            eprintln!(
                "{name}: error: --generate takes man, complete-bash, complete-zsh, complete-fish \
                 (names from the server) or complete-bash-static, complete-zsh-static, \
                 complete-fish-static (flags only) (got {})",
                other.unwrap_or("nothing")
            );
            return ExitCode::from(2);
        }
    };
    clap_complete::generate(shell, command, name, &mut out);
    ExitCode::SUCCESS
}

/// The man page: clap_mangen's, except that the SUBCOMMANDS section shows each subcommand's
/// synopsis, description and own options (pf ships one page per tool, not one per subcommand).
fn man_page(command: &clap::Command) -> std::io::Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut page)?;
    let mut built = command.clone();
    built.build();
    let text = String::from_utf8_lossy(&page).into_owned();
    let Some(start) = text.find(".SH SUBCOMMANDS\n") else {
        return Ok(page);
    };
    let end = text[start + 1..]
        .find("\n.SH ")
        .map_or(text.len(), |i| start + i + 2);
    let mut section = String::from(".SH SUBCOMMANDS\n");
    for sub in built
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let own = sub.get_arguments().filter(|a| {
            !a.is_global_set()
                && !a.is_hide_set()
                && !matches!(a.get_id().as_str(), "help" | "version")
        });
        let mut detail = clap::Command::new("subcommand")
            .bin_name(format!("{} {}", built.get_name(), sub.get_name()))
            .disable_help_flag(true)
            .args(own.cloned())
            .groups(sub.get_groups().cloned());
        if let Some(about) = sub.get_about() {
            detail = detail.about(about.clone());
        }
        if let Some(long) = sub.get_long_about() {
            detail = detail.long_about(long.clone());
        }
        let man = clap_mangen::Man::new(detail);
        let (mut synopsis, mut parts) = (Vec::new(), Vec::new());
        man.render_synopsis_section(&mut synopsis)?;
        man.render_description_section(&mut parts)?;
        if sub
            .get_arguments()
            .any(|a| !a.is_global_set() && !a.is_hide_set())
        {
            man.render_options_section(&mut parts)?;
        }
        section.push_str(&format!(".SS {}\n", sub.get_name()));
        // The parts' own `.SH` headings would end the SUBCOMMANDS section.
        for (i, part) in [synopsis, parts].iter().enumerate() {
            if i > 0 {
                section.push_str(".PP\n");
            }
            for line in String::from_utf8_lossy(part)
                .lines()
                .filter(|l| !l.starts_with(".SH "))
            {
                section.push_str(line);
                section.push('\n');
            }
        }
    }
    Ok(format!("{}{section}{}", &text[..start], &text[end..]).into_bytes())
}

/// From now on, Ctrl-C (SIGINT) or SIGTERM ends the tool with exit 0: for views that run until
/// the user stops them (`--follow`, `--watch`). What was printed is flushed already.
pub fn exit_0_on_interrupt() {
    let _ = ctrlc::set_handler(|| {
        let _ = std::io::Write::flush(&mut std::io::stdout());
        std::process::exit(0);
    });
}

/// Every error, hint and warning is one line, whatever a server or an input put in it; the
/// bound only stops pathological messages (echoed input is cut to ~100 characters earlier).
fn printable(message: &str) -> String {
    crate::error::one_line(message, 2000)
}

/// Print a warning line `TOOL: warning: …` on stderr.
pub fn warn(tool: &str, message: impl std::fmt::Display) {
    crate::progress::above_bar(|| {
        let _ = writeln!(
            std::io::stderr(),
            "{tool}: warning: {}",
            printable(&message.to_string())
        );
    });
}

/// Set once any item's error has been reported: an empty result is then not "nothing found".
static ITEM_FAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether an item of this run has failed (its error was reported on stderr).
pub fn item_failed() -> bool {
    ITEM_FAILED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Print `TOOL: error: …` for one failed item of a batch (the batch goes on).
pub fn report_item(tool: &str, error: &Error) {
    ITEM_FAILED.store(true, std::sync::atomic::Ordering::Relaxed);
    crate::progress::above_bar(|| {
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "{tool}: error: {}", printable(&error.to_string()));
        if let Some(hint) = error.hint() {
            let _ = writeln!(stderr, "hint: {}", printable(hint));
        }
    });
}

/// A clap value parser for names: an empty or blank name is a usage error (exit 2) before any
/// request, never an object created with an empty name.
///
/// ```
/// assert!(pf_common::cli::non_blank("etl").is_ok());
/// assert!(pf_common::cli::non_blank(" ").is_err());
/// ```
pub fn non_blank(value: &str) -> std::result::Result<String, String> {
    if value.trim().is_empty() {
        Err("a name cannot be empty".into())
    } else {
        Ok(value.to_string())
    }
}

/// Parse helper so tools can use `Args::parse_from` in tests while keeping one error style.
pub fn command_of<A: CommandFactory>() -> clap::Command {
    A::command()
}

/// The exit status of a batch over several REFs: 0 when all succeeded; the error's own code
/// when every REF failed the same way (one unknown REF → 4); 1 when some failed.
#[derive(Debug, Default)]
pub struct Batch {
    ok: usize,
    failed_codes: Vec<i32>,
}

impl Batch {
    /// Record one item's outcome, reporting a failure on stderr as `TOOL: error: …`.
    pub fn record<T>(&mut self, tool: &str, result: Result<T>) -> Option<T> {
        match result {
            Ok(value) => {
                self.ok += 1;
                Some(value)
            }
            Err(e) => {
                if e.is_broken_pipe() {
                    // Let the caller stop: nothing more can be printed.
                    self.failed_codes.push(0);
                    return None;
                }
                report_item(tool, &e);
                self.failed_codes.push(e.exit_code());
                None
            }
        }
    }

    /// Record a step of an item that has more to do (resolving its REF before acting on it):
    /// a failure is the item's outcome, reported now; a success is not counted, so the item's
    /// final [`Batch::record`] decides (one REF resolved, then refused with 422 → exit 4).
    pub fn step<T>(&mut self, tool: &str, result: Result<T>) -> Option<T> {
        let ok = self.ok;
        let value = self.record(tool, result);
        self.ok = ok;
        value
    }

    /// The exit code for the whole batch.
    pub fn exit_code(&self) -> i32 {
        match (self.ok, self.failed_codes.as_slice()) {
            (_, []) => 0,
            (0, [first, rest @ ..]) if rest.iter().all(|c| c == first) => *first,
            _ => crate::error::EXIT_FAILED,
        }
    }
}
