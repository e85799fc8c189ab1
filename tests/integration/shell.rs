//! Fitting the shell: CSV and chosen columns, headers and time styles on every format, and
//! completion of names from the real server through real bash, zsh and fish.

use std::net::TcpListener;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Server, bin, pf, repo, unique};

#[test]
fn csv_has_the_table_columns_quoted_as_rfc_4180() {
    let api = Server::shared().api();
    let name = unique("csv,\"quoted\"");
    let flow = api.post("flows/", json!({"name": name, "tags": ["a", "b"]}));
    let run = pf("pf-get")
        .args(["flows", "--name", &name, "-o", "csv"])
        .run();
    run.ok();
    let id = flow["id"].as_str().unwrap();
    let quoted = name.replace('"', "\"\"");
    let lines = run.lines();
    assert_eq!(lines[0], "NAME,ID,TAGS,AGE");
    assert!(
        lines[1].starts_with(&format!("\"{quoted}\",{id},\"a,b\",20")),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 2);

    let run = pf("pf-get")
        .args(["flows", "--name", &name, "-o", "csv", "--no-headers"])
        .args(["--columns", "id,name"])
        .run();
    run.ok();
    assert_eq!(run.stdout, format!("{id},\"{quoted}\"\n"));
}

#[test]
fn columns_choose_and_order_for_table_tsv_and_csv() {
    let api = Server::shared().api();
    let name = unique("cols");
    let flow = api.post("flows/", json!({"name": name}));
    let id = flow["id"].as_str().unwrap();
    let run = pf("pf-get")
        .args(["flows", "--name", &name, "-o", "tsv", "--header"])
        .args(["--columns", "ID,NAME"])
        .run();
    run.ok();
    assert_eq!(run.stdout, format!("ID\tNAME\n{id}\t{name}\n"));

    let run = pf("pf-get")
        .args(["flows", "--name", &name, "--columns", "name"])
        .tty(200)
        .run();
    run.ok();
    assert_eq!(run.stdout, format!("NAME\n{name}\n"));

    let run = pf("pf-get")
        .args([
            "flows",
            "--name",
            &name,
            "--no-headers",
            "--columns",
            "name,id",
        ])
        .tty(200)
        .run();
    run.ok();
    assert_eq!(run.stdout, format!("{name}  {id}\n"));

    let run = pf("pf-get")
        .args(["flows", "--columns", "NAME,BOGUS"])
        .run();
    run.expect_code(2);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .contains("unknown column 'BOGUS'; valid columns: NAME,ID,TAGS,AGE"),
        "{}",
        run.stderr
    );
}

#[test]
fn time_styles_on_the_table() {
    let api = Server::shared().api();
    let name = unique("times");
    let flow = api.post("flows/", json!({"name": name}));
    let created = flow["created"].as_str().unwrap();
    let utc = pf("pf-get")
        .args([
            "flows",
            "--name",
            &name,
            "--columns",
            "age",
            "--time",
            "utc",
        ])
        .tty(200)
        .run();
    utc.ok();
    // `2026-12-03T07:42:42.897057Z` → `2026-12-03T07:42:42Z`
    assert_eq!(utc.lines()[1], format!("{}Z", &created[..19]));
    let relative = pf("pf-get")
        .args(["flows", "--name", &name, "--columns", "age"])
        .tty(200)
        .run();
    relative.ok();
    assert!(
        relative.lines()[1].ends_with("ago") || relative.lines()[1] == "just now",
        "{relative:?}"
    );
    let local = pf("pf-get")
        .args([
            "flows",
            "--name",
            &name,
            "--columns",
            "age",
            "--time",
            "local",
        ])
        .env("TZ", "UTC")
        .tty(200)
        .run();
    local.ok();
    assert_eq!(local.lines()[1], created[..19].replace('T', " "));
}

/// The completion budget in these tests: the suite loads the machine and the server far more
/// than a person at a prompt does (the default of 300 ms is kept by the silent-server test).
const SLOW_SERVER_MS: &str = "10000";

/// zsh and fish from Debian's packages, installed once by tests/support/install-shells.sh.
fn shells_installed() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let output = Command::new("bash")
            .arg(repo().join("tests/support/install-shells.sh"))
            .output()
            .expect("cannot run tests/support/install-shells.sh");
        assert!(
            output.status.success(),
            "installing zsh and fish failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    });
}

/// Run `script` in `shell` with the pf binaries on PATH and the shared server configured.
fn in_shell(shell: &str, script: &str, api_url: &str) -> String {
    let bin_dir = bin("pf-get").parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let home = crate::harness::temp_dir("shell-home");
    let output = Command::new(shell)
        .arg("-c")
        .arg(script)
        .env("PATH", path)
        .env("HOME", &home)
        .env("PREFECT_HOME", &home)
        .env("PREFECT_API_URL", api_url)
        .env("PF_COMPLETE_TIMEOUT_MS", SLOW_SERVER_MS)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{shell} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// bash: `complete -p` shows the registration, and the completion function (called as bash
/// calls it, with COMP_WORDS/COMP_CWORD) answers deployment, run, pool and profile names.
#[test]
fn bash_completes_names_from_the_server() {
    let server = Server::shared();
    let api = server.api();
    let flow_name = unique("compflow");
    let flow = api.post("flows/", json!({"name": flow_name}));
    let flow_id = flow["id"].as_str().unwrap();
    api.deployment(flow_id, "nightly", json!({}));
    api.deployment(flow_id, "hourly", json!({}));
    let pool = unique("comppool");
    api.post("work_pools/", json!({"name": pool, "type": "process"}));

    let complete = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        let tool = words[0];
        let script = format!(
            "source <({tool} --generate complete-bash) && complete -p {tool} >/dev/null && \
             COMP_WORDS=({words}) && COMP_CWORD={cword} && COMP_TYPE=9 && \
             _clap_complete_{func} {tool} '{cur}' '{prev}' && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            words = words
                .iter()
                .map(|w| format!("'{w}'"))
                .collect::<Vec<_>>()
                .join(" "),
            cword = words.len() - 1,
            func = tool.replace('-', "_"),
            cur = words[words.len() - 1],
            prev = words[words.len() - 2],
        );
        let mut lines: Vec<String> = in_shell("bash", &script, &server.url)
            .lines()
            .map(|l| l.trim_end().to_string())
            .collect();
        lines.sort();
        lines
    };

    assert_eq!(
        complete(&format!("pf-run -n {flow_name}")),
        vec![
            format!("{flow_name}/hourly"),
            format!("{flow_name}/nightly")
        ]
    );
    assert_eq!(
        complete(&format!("pf-run -n {flow_name}/n")),
        vec![format!("{flow_name}/nightly")]
    );
    assert_eq!(
        complete(&format!(
            "pf-describe work-pool {}",
            &pool[..pool.len() - 2]
        )),
        vec![pool.clone()]
    );
    assert_eq!(
        complete("pf-get flow-runs --state Cance"),
        vec!["Cancelled".to_string(), "Cancelling".to_string()]
    );
    // Flags still complete, from the binary itself.
    assert!(complete("pf-get flow-runs --sta").contains(&"--state".to_string()));
}

/// `pf-state cancel <TAB>` offers runs that can be cancelled, not finished ones; `pf-logs`
/// offers recent runs.
#[test]
fn run_names_complete_by_what_the_verb_accepts() {
    let server = Server::shared();
    let api = server.api();
    let flow = api.flow("comp-runs", &[]);
    let flow_id = flow["id"].as_str().unwrap();
    let running = api.flow_run(flow_id, "RUNNING", &[]);
    let done = api.flow_run(flow_id, "COMPLETED", &[]);
    let (running, done) = (
        running["name"].as_str().unwrap().to_string(),
        done["name"].as_str().unwrap().to_string(),
    );
    let ask = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        let output = Command::new(bin(words[0]))
            .env("COMPLETE", "bash")
            .env("_CLAP_COMPLETE_INDEX", (words.len() - 1).to_string())
            .env("PF_COMPLETE_TIMEOUT_MS", SLOW_SERVER_MS)
            .env("PREFECT_API_URL", &server.url)
            .env("PREFECT_HOME", crate::harness::temp_dir("comp-home"))
            .arg("--")
            .args(&words)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let cancellable = ask(&format!("pf-state cancel {}", &running[..3]));
    assert!(cancellable.lines().any(|l| l == running), "{cancellable}");
    let cancellable = ask(&format!("pf-state cancel {done}"));
    assert!(!cancellable.lines().any(|l| l == done), "{cancellable}");
    let any = ask(&format!("pf-logs {done}"));
    assert!(any.lines().any(|l| l == done), "{any}");
}

/// zsh and fish get the same candidates from the same binary.
#[test]
fn zsh_and_fish_complete_names_from_the_server() {
    shells_installed();
    let server = Server::shared();
    let api = server.api();
    let flow_name = unique("zshflow");
    let flow = api.post("flows/", json!({"name": flow_name}));
    api.deployment(flow["id"].as_str().unwrap(), "daily", json!({}));

    // zsh: the registration script's function, with zsh's completion builtins stubbed to
    // print what they are given.
    let zsh = in_shell(
        "zsh",
        &format!(
            "compdef() {{ :; }}; _describe() {{ local arr=$3; print -l -- \"${{(@P)arr}}\"; }}; \
             source <(pf-run --generate complete-zsh); \
             words=(pf-run -n {flow_name}/); CURRENT=3; _clap_dynamic_completer_pf_run"
        ),
        &server.url,
    );
    assert_eq!(zsh.trim(), format!("{flow_name}/daily"), "{zsh}");

    let fish = in_shell(
        "fish",
        &format!("pf-run --generate complete-fish | source; complete -C 'pf-run -n {flow_name}/'"),
        &server.url,
    );
    assert_eq!(fish.trim(), format!("{flow_name}/daily"), "{fish}");
}

/// A server that accepts connections and never answers: completion gives up within its
/// budget and still offers flags; nothing hangs.
#[test]
fn completion_never_waits_long_for_a_silent_server() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api", silent.local_addr().unwrap());
    let started = Instant::now();
    let output = Command::new(bin("pf-run"))
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", "2")
        .env("PREFECT_API_URL", &url)
        .env("PREFECT_HOME", crate::harness::temp_dir("comp-home"))
        .args(["--", "pf-run", "-n", "et"])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
    // Generous: the budget is 300 ms; this only proves there is no retry loop or hang.
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(silent);
}

/// `--profile` on the line picks the server asked, as the command would.
#[test]
fn completion_uses_the_profile_on_the_line() {
    let server = Server::shared();
    let api = server.api();
    let pool = unique("profpool");
    api.post("work_pools/", json!({"name": pool, "type": "process"}));
    let home = crate::harness::temp_dir("comp-profile");
    std::fs::write(
        home.join("profiles.toml"),
        format!(
            "active = \"down\"\n[profiles.down]\nPREFECT_API_URL = \"http://127.0.0.1:9/api\"\n\
             [profiles.up]\nPREFECT_API_URL = \"{}\"\n",
            server.url
        ),
    )
    .unwrap();
    let ask = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        let output = Command::new(bin(words[0]))
            .env("COMPLETE", "bash")
            .env("_CLAP_COMPLETE_INDEX", (words.len() - 1).to_string())
            .env("PF_COMPLETE_TIMEOUT_MS", SLOW_SERVER_MS)
            .env("PREFECT_HOME", &home)
            .env_remove("PREFECT_API_URL")
            .arg("--")
            .args(&words)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert_eq!(ask(&format!("pf-describe work-pool {pool}")), "");
    assert_eq!(
        ask(&format!("pf-describe --profile up work-pool {pool}")).trim(),
        pool
    );
    let profiles = ask("pf-get --profile ");
    assert_eq!(profiles.lines().collect::<Vec<_>>(), vec!["down", "up"]);
}

/// `-o wide` adds each kind's extra columns at the end; the default table, TSV and CSV keep
/// theirs; `--columns` can name a wide column in any format.
#[test]
fn wide_output_adds_the_extra_columns() {
    let api = Server::shared().api();
    let flow = api.flow("wide", &[]);
    let flow_id = flow["id"].as_str().unwrap();
    let run = api.post(
        "flow_runs/",
        json!({"flow_id": flow_id, "name": unique("wide-run"), "tags": ["nightly"],
               "labels": {"team": "data"}, "parameters": {"n": 3},
               "state": {"type": "COMPLETED", "name": "Completed"}}),
    );
    let name = run["name"].as_str().unwrap();
    let wide = pf("pf-get")
        .args(["flow-runs", "--name", name, "-o", "wide"])
        .tty(400)
        .run();
    wide.ok();
    let header: Vec<&str> = wide.lines()[0]
        .split("  ")
        .filter(|c| !c.is_empty())
        .collect();
    let header: Vec<&str> = header.iter().map(|h| h.trim()).collect();
    assert_eq!(
        header,
        [
            "NAME",
            "FLOW NAME",
            "STATE",
            "AGE",
            "START TIME",
            "DURATION",
            "ID",
            "TAGS",
            "LABELS",
            "PARAMETERS",
            "DEPLOYMENT ID",
            "WORK POOL",
            "WORK QUEUE",
            "INFRA PID"
        ]
    );
    assert!(wide.lines()[1].contains("team=data"), "{wide:?}");
    assert!(wide.lines()[1].contains(r#"{"n":3}"#), "{wide:?}");

    let table = pf("pf-get")
        .args(["flow-runs", "--name", name])
        .tty(400)
        .run();
    table.ok();
    assert!(table.lines()[0].ends_with("DURATION  ID"), "{table:?}");
    let tsv = pf("pf-get")
        .args(["flow-runs", "--name", name, "-o", "tsv"])
        .run();
    assert_eq!(tsv.lines()[0].split('\t').count(), 7);

    let csv = pf("pf-get")
        .args([
            "flow-runs",
            "--name",
            name,
            "-o",
            "csv",
            "--columns",
            "name,labels,tags",
        ])
        .run();
    csv.ok();
    // The server adds its own labels (prefect.flow.id) to the run's.
    let lines = csv.lines();
    assert_eq!(lines[0], "NAME,LABELS,TAGS");
    assert!(
        lines[1].starts_with(&format!("{name},\""))
            && lines[1].contains("team=data")
            && lines[1].ends_with("\",nightly"),
        "{lines:?}"
    );
}
