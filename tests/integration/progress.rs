//! Progress of long bulk work on stderr (issue 14): a bar with its total when stderr is a
//! terminal, nothing at all in a pipe. The terminal is a real pseudo-terminal (`script`), since
//! the bar is drawn only where stderr is one.

use std::process::{Command, Stdio};

use serde_json::Value;

use crate::harness::{Pf, Server, pf, temp_dir};

/// `count` new flow runs of a new flow; their ids.
fn new_runs(count: usize) -> Vec<String> {
    let api = Server::shared().api();
    let flow = api.flow("progress", &[]);
    (0..count)
        .map(|_| {
            let run = api.flow_run(flow["id"].as_str().unwrap(), "SCHEDULED", &[]);
            run["id"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Quote a word for `sh`.
fn quoted(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Run `tool` with stderr on a pseudo-terminal (util-linux `script`) and stdout in a file:
/// (exit code, stdout, what the terminal showed).
fn with_stderr_on_a_terminal(tool: Pf) -> (i32, String, String) {
    let command = tool.command();
    let dir = temp_dir("progress");
    let stdout_file = dir.join("stdout");
    let mut line = quoted(&command.get_program().to_string_lossy());
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&quoted(&arg.to_string_lossy()));
    }
    line.push_str(&format!(" >{}", quoted(&stdout_file.to_string_lossy())));
    let mut script = Command::new("script");
    script.args(["-qec", &line, "/dev/null"]);
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => script.env(key, value),
            None => script.env_remove(key),
        };
    }
    let output = script
        .env("COLUMNS", "120")
        .stdin(Stdio::null())
        .output()
        .expect("cannot start script (util-linux)");
    (
        output.status.code().unwrap_or(-1),
        std::fs::read_to_string(&stdout_file).unwrap_or_default(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn results(ndjson: &str) -> Vec<String> {
    ndjson
        .lines()
        .map(|l| {
            let row: Value = serde_json::from_str(l).unwrap();
            row["result"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

#[test]
fn bulk_rm_shows_a_bar_on_a_terminal_and_nothing_in_a_pipe() {
    let ids = new_runs(120);
    let (in_pipe, on_terminal) = ids.split_at(60);

    let piped = pf("pf-rm")
        .args(["flow-runs", "--yes", "-o", "ndjson"])
        .args(in_pipe)
        .run();
    piped.ok();
    assert_eq!(results(&piped.stdout), vec!["deleted"; 60], "{piped:?}");
    assert_eq!(piped.stderr, "", "no progress in a pipe");

    let (code, stdout, terminal) = with_stderr_on_a_terminal(
        pf("pf-rm")
            .args(["flow-runs", "--yes", "-o", "ndjson"])
            .args(on_terminal),
    );
    assert_eq!(code, 0, "{terminal}");
    assert_eq!(results(&stdout), vec!["deleted"; 60], "{terminal}");
    // The bar is drawn with its total from the start (0/60), then erased.
    assert!(terminal.contains(" 0/60 flow runs deleted"), "{terminal:?}");
}
