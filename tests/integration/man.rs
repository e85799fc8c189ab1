//! Man pages in `man/` are generated from the clap definitions (and `pf.7` from the list of
//! tools plus the contract below); this fails when one is stale.
//! Regenerate with: `PF_BLESS=1 cargo test --test integration man_pages`

use std::path::Path;

use crate::harness::{bin, repo, temp_dir};

/// Every tool: the `[[bin]]` names of Cargo.toml, in their order there.
fn tools() -> Vec<String> {
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    manifest
        .lines()
        .filter_map(|line| line.strip_prefix("name = \"pf-"))
        .filter_map(|rest| rest.strip_suffix('"'))
        .map(|name| format!("pf-{name}"))
        .collect()
}

/// Compare `bytes` with the checked-in file, or write it with PF_BLESS set; the stale path
/// is pushed onto `stale`.
fn check_fresh(path: &Path, bytes: &[u8], stale: &mut Vec<String>) {
    let current = std::fs::read(path).unwrap_or_default();
    if current != bytes {
        if std::env::var_os("PF_BLESS").is_some() {
            std::fs::write(path, bytes).unwrap();
        } else {
            stale.push(path.display().to_string());
        }
    }
}

#[test]
fn man_pages_are_fresh() {
    let mut stale = Vec::new();
    let tools = tools();
    assert!(tools.len() >= 10, "too few tools found: {tools:?}");
    for tool in &tools {
        let output = std::process::Command::new(bin(tool))
            .args(["--generate", "man"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{tool} --generate man failed");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains(".TH"),
            "{tool}: not roff"
        );
        let path = repo().join("man").join(format!("{tool}.1"));
        check_fresh(&path, &output.stdout, &mut stale);
    }
    check_fresh(
        &repo().join("man/pf.7"),
        overview(&tools).as_bytes(),
        &mut stale,
    );
    assert!(
        stale.is_empty(),
        "stale man pages (run PF_BLESS=1 cargo test --test integration man_pages): {stale:?}"
    );
}

/// A tool's one-line description: the first line of its `--help`.
fn about(tool: &str) -> String {
    let output = std::process::Command::new(bin(tool))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.lines()
        .next()
        .unwrap_or_default()
        .trim_end_matches('.')
        .to_string()
}

fn roff_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('-', "\\-")
}

/// pf(7): every tool, the output and exit-code contract, the environment (as git(1) lists
/// git's commands).
fn overview(tools: &[String]) -> String {
    let mut page = String::from(OVERVIEW_HEAD);
    for tool in tools {
        page.push_str(&format!(
            ".TP\n.BR {} (1)\n{}\n",
            roff_escape(tool),
            roff_escape(&about(tool))
        ));
    }
    page.push_str(OVERVIEW_TAIL);
    page.push_str(".SH SEE ALSO\n");
    let refs: Vec<String> = tools
        .iter()
        .map(|t| format!(".BR {} (1)", roff_escape(t)))
        .collect();
    page.push_str(&refs.join(",\n"));
    page.push('\n');
    page
}

const OVERVIEW_HEAD: &str = r#".TH PF 7 "" "pf" "pf manual"
.SH NAME
pf \- Prefect from the shell: small, fast, scriptable tools over the Prefect REST API
.SH SYNOPSIS
.B pf\-get
.I KIND
[\fIOPTIONS\fR]
.br
.B pf\-run \-n
.I FLOW/DEPLOYMENT
\-\-quiet | \fBpf\-logs \-\-follow\fR
.SH DESCRIPTION
pf is a set of small command\-line tools for Prefect servers (self\-hosted
\fBprefect server start\fR or Prefect Cloud). Each tool prints a table on a terminal and
NDJSON in a pipe, reads ids or NDJSON from standard input, takes a built\-in \fB\-\-jq\fR
filter, and exits with a code a cron job can trust. Tools compose with pipes:
.PP
.nf
    pf\-get flow\-runs \-\-state Failed \-\-since 1d | pf\-state retry
    pf\-get flow\-runs \-\-all \-\-jq 'select(.total_run_time > 600) | .name'
.fi
.SH TOOLS
"#;

const OVERVIEW_TAIL: &str = r#".SH OUTPUT
.TP
.B \-o table
Aligned columns with a header (the default on a terminal); times as relative ages
(\fB\-\-time local\fR or \fButc\fR for timestamps), durations as HH:MM:SS, state colours.
.TP
.B \-o wide
The table with each kind's extra columns.
.TP
.B \-o ndjson
One API object per line, fields as the API names them (the default in a pipe).
.TP
.B \-o json
One JSON array.
.TP
.B \-o tsv
The table's columns, tab\-separated, no header unless \fB\-\-header\fR; RFC 3339 times,
durations in seconds; tabs and newlines escaped.
.TP
.B \-o csv
The table's columns as RFC 4180 CSV with a header row (\fB\-\-no\-headers\fR to omit it).
.TP
.B \-\-columns \fINAME,...\fR
Only these columns, in this order (table, wide, tsv, csv).
.TP
.B \-\-jq \fIEXPR\fR
A jq filter run on each object; string results print raw.
.SH INPUT
A REF is an id or a name (deployments as FLOW/DEPLOYMENT, work queues as POOL/QUEUE, blocks
as TYPE/NAME). Where a tool takes REFs and none is given (or \fB\-\fR), it reads standard input:
one REF per line, or NDJSON objects whose \fBid\fR it takes, so any pf tool's piped output
feeds any other.
.SH EXIT STATUS
.TP
.B 0
Success (a watched run ended Completed).
.TP
.B 1
The operation failed: a run ended Failed, Crashed or Cancelled; some REFs of a batch failed.
.TP
.B 2
Usage: a bad flag, JSON, jq filter or time.
.TP
.B 3
Authentication or authorization (401, 403).
.TP
.B 4
Not found, or another client error (404, 409, 422).
.TP
.B 5
Server error (5xx after retries).
.TP
.B 6
A wait ran out of time (\fB\-\-timeout\fR).
.TP
.B 7
Network: cannot connect, timeout, TLS (after retries).
.PP
A closed standard output (\fB| head \-1\fR) ends a tool quietly with 0.
.SH ENVIRONMENT
Flags (\fB\-\-api\-url\fR, \fB\-\-profile\fR) win over the environment, which wins over the
active profile of profiles.toml, which wins over http://127.0.0.1:4200/api.
.TP
.B PREFECT_API_URL
The API, e.g. http://127.0.0.1:4200/api or a Prefect Cloud workspace URL.
.TP
.B PREFECT_API_KEY
A Prefect Cloud API key (sent as a Bearer token).
.TP
.B PREFECT_API_AUTH_STRING
user:password for a self\-hosted server with basic auth (wins over the key).
.TP
.B PREFECT_PROFILE
The profile of profiles.toml to use.
.TP
.B PREFECT_HOME\fR, \fBPREFECT_PROFILES_PATH
Where profiles.toml is (default ~/.prefect/profiles.toml).
.TP
.B PREFECT_CLIENT_CUSTOM_HEADERS
A JSON object of extra request headers.
.TP
.B PREFECT_API_TLS_INSECURE_SKIP_VERIFY\fR, \fBPREFECT_API_SSL_CERT_FILE\fR, \fBSSL_CERT_FILE
TLS verification and extra root certificates.
.TP
.B PREFECT_API_REQUEST_TIMEOUT\fR, \fBPREFECT_CLIENT_MAX_RETRIES\fR, \fBPREFECT_CLIENT_RETRY_EXTRA_CODES
Request timeout (seconds), retries, and more statuses to retry.
.TP
.B NO_COLOR\fR, \fBCLICOLOR_FORCE
Colour off, or on even in a pipe.
.SH FILES
.TP
.I ~/.prefect/profiles.toml
Profiles, shared with Prefect's own Python client and CLI.
.SH COMPLETION
Each tool completes names from the server (deployments, runs, pools, profiles, ...):
.PP
.nf
    source <(pf\-run \-\-generate complete\-bash)      # bash
    source <(pf\-run \-\-generate complete\-zsh)       # zsh
    pf\-run \-\-generate complete\-fish | source        # fish
.fi
.PP
\fBscripts/install\-docs PREFIX\fR installs every tool's man page and completions.
"#;

#[test]
fn completions_generate() {
    for tool in tools() {
        for shell in [
            "complete-bash",
            "complete-zsh",
            "complete-fish",
            "complete-bash-static",
            "complete-zsh-static",
            "complete-fish-static",
        ] {
            let output = std::process::Command::new(bin(&tool))
                .args(["--generate", shell])
                .output()
                .unwrap();
            assert!(
                output.status.success() && !output.stdout.is_empty(),
                "{tool} --generate {shell}"
            );
        }
    }
}

/// scripts/install-docs writes every man page and every shell's completion file, and the
/// bash file registers a completion for its tool.
#[test]
fn install_docs_writes_man_pages_and_completions() {
    let prefix = temp_dir("install-docs");
    let bin_dir = bin("pf-get").parent().unwrap().to_path_buf();
    let output = std::process::Command::new("bash")
        .arg(repo().join("scripts/install-docs"))
        .arg(&prefix)
        .env("PF_BIN_DIR", &bin_dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "install-docs failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(prefix.join("share/man/man7/pf.7").is_file());
    for tool in tools() {
        for path in [
            format!("share/man/man1/{tool}.1"),
            format!("share/bash-completion/completions/{tool}"),
            format!("share/zsh/site-functions/_{tool}"),
            format!("share/fish/vendor_completions.d/{tool}.fish"),
        ] {
            assert!(prefix.join(&path).is_file(), "{path} missing");
        }
    }
    let check = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}/share/bash-completion/completions/pf-run && complete -p pf-run",
            prefix.display()
        ))
        .output()
        .unwrap();
    let registered = String::from_utf8_lossy(&check.stdout);
    assert!(
        registered.contains("_clap_complete_pf_run") && registered.ends_with("pf-run\n"),
        "{registered}"
    );
}
