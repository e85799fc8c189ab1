//! pf-limit, pf-var and pf-secret round trips against the real server, and what pf-get and
//! pf-describe show of them.

use serde_json::{Value, json};

use crate::harness::{Server, pf, unique};

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

#[test]
fn variables_round_trip() {
    let name = unique("var").replace('-', "_");
    let out = pf("pf-var")
        .args(["set", &name, "42", "--tag", "pf-test"])
        .run();
    out.ok();
    assert_eq!(out.json_lines()[0]["value"], json!(42));
    pf("pf-var").args(["get", &name]).run().ok();
    assert_eq!(pf("pf-var").args(["get", &name]).run().stdout, "42\n");

    // Updating keeps the variable (same id); strings print raw, JSON compact.
    let before = pf("pf-describe")
        .args(["variable", &name])
        .run()
        .json_lines()[0]
        .clone();
    pf("pf-var").args(["set", &name, "hello world"]).run().ok();
    assert_eq!(
        pf("pf-var").args(["get", &name]).run().stdout,
        "hello world\n"
    );
    pf("pf-var")
        .args(["set", &name, r#"{"retries": [1, 2]}"#])
        .run()
        .ok();
    assert_eq!(
        pf("pf-var").args(["get", &name]).run().stdout,
        "{\"retries\":[1,2]}\n"
    );
    pf("pf-var")
        .args(["set", &name, "7", "--string"])
        .run()
        .ok();
    let after = pf("pf-describe")
        .args(["variable", &name])
        .run()
        .json_lines()[0]
        .clone();
    assert_eq!(
        (after["id"].clone(), after["value"].clone()),
        (before["id"].clone(), json!("7"))
    );

    let out = pf("pf-get")
        .args(["variables", "--name", &name, "-o", "tsv"])
        .run();
    out.ok();
    let cells: Vec<&str> = out.stdout.trim_end().split('\t').collect();
    assert_eq!(&cells[..3], [name.as_str(), "7", "pf-test"]);

    pf("pf-var").args(["rm", &name]).run().ok();
    let out = pf("pf-var").args(["get", &name]).run();
    out.expect_code(4);
    assert_eq!(
        out.stderr.lines().next().unwrap(),
        format!("pf-var: error: variable '{name}' not found")
    );
}

#[test]
fn a_secret_from_stdin_never_appears_in_output_or_traces() {
    let name = unique("secret");
    let value = format!("hunter2-{}", unique("v"));
    let out = pf("pf-secret")
        .args(["set", &name, "-v"])
        .stdin(format!("{value}\n"))
        .run();
    out.ok();
    assert!(
        !out.stdout.contains(&value) && !out.stderr.contains(&value),
        "{out:?}"
    );
    assert!(
        out.stderr.contains("POST /block_documents/ 201"),
        "{}",
        out.stderr
    );
    assert_eq!(out.json_lines()[0]["name"], json!(name));

    let looks = [
        pf("pf-secret").args(["get", &name, "-v"]).run(),
        pf("pf-secret").args(["get", &name]).tty(120).run(),
        pf("pf-get")
            .args(["blocks", "--type", "secret", "--all", "-v"])
            .run(),
        pf("pf-get")
            .args(["blocks", "--type", "secret", "-o", "tsv"])
            .run(),
        pf("pf-describe")
            .args(["block", &format!("secret/{name}"), "-v"])
            .run(),
        pf("pf-describe").args(["block", &name]).run(),
        pf("pf-api")
            .args([
                "GET",
                &format!("block_types/slug/secret/block_documents/name/{name}"),
                "-v",
            ])
            .run(),
    ];
    for look in &looks {
        look.ok();
        assert!(
            !look.stdout.contains(&value) && !look.stderr.contains(&value),
            "secret leaked: {look:?}"
        );
    }
    assert_eq!(looks[0].json_lines()[0]["data"]["value"], json!("********"));
    assert!(
        looks[2]
            .json_lines()
            .iter()
            .any(|b| b["name"] == json!(name))
    );

    // Only the explicit flag prints it; a second set replaces it.
    assert_eq!(
        pf("pf-secret")
            .args(["get", &name, "--show-secret"])
            .run()
            .stdout,
        format!("{value}\n")
    );
    pf("pf-secret")
        .args(["set", &name])
        .stdin("second value")
        .run()
        .ok();
    assert_eq!(
        pf("pf-secret")
            .args(["get", &name, "--show-secret"])
            .run()
            .stdout,
        "second value\n"
    );

    let out = pf("pf-secret").args(["set", &name]).stdin("\n").run();
    out.expect_code(2);
    pf("pf-secret").args(["rm", &name]).run().ok();
    pf("pf-secret").args(["get", &name]).run().expect_code(4);
}

#[test]
fn concurrency_limits_of_both_kinds_round_trip() {
    let tag = unique("tag");
    let global = unique("global");
    let out = pf("pf-limit").args(["set", &tag, "3"]).run();
    out.ok();
    let tag_limit = out.json_lines()[0].clone();
    assert_eq!(
        (
            tag_limit["tag"].as_str(),
            tag_limit["concurrency_limit"].as_i64()
        ),
        (Some(tag.as_str()), Some(3))
    );
    let out = pf("pf-limit").args(["set", "--global", &global, "2"]).run();
    out.ok();
    assert_eq!(out.json_lines()[0]["limit"], json!(2));

    // Update in place, read back, reset.
    pf("pf-limit").args(["set", &tag, "5"]).run().ok();
    pf("pf-limit")
        .args(["set", &global, "4", "--global"])
        .run()
        .ok();
    let out = pf("pf-limit").args(["get", &tag]).run();
    assert_eq!(
        (
            out.json_lines()[0]["id"].clone(),
            out.json_lines()[0]["concurrency_limit"].clone()
        ),
        (tag_limit["id"].clone(), json!(5))
    );
    assert_eq!(
        pf("pf-limit")
            .args(["get", "--global", &global, "--jq", ".limit"])
            .run()
            .stdout,
        "4\n"
    );
    // A slot held the Prefect 3 way (a lease on the global limit `tag:NAME`) is freed by reset.
    let api = Server::shared().api();
    api.post(
        "v2/concurrency_limits/increment",
        json!({"names": [format!("tag:{tag}")], "slots": 1, "mode": "concurrency"}),
    );
    let held = || api.get(&format!("v2/concurrency_limits/tag:{tag}"))["active_slots"].clone();
    assert_eq!(held(), json!(1));
    pf("pf-limit").args(["reset", &tag]).run().ok();
    assert_eq!(held(), json!(0), "reset frees the slots Prefect 3 holds");
    pf("pf-limit")
        .args(["reset", "--global", &global])
        .run()
        .ok();

    // One listing, a KIND column, each limit once.
    let out = pf("pf-get")
        .args(["concurrency-limits", "-o", "tsv", "--header"])
        .run();
    out.ok();
    assert_eq!(out.lines()[0], "KIND\tNAME\tLIMIT\tACTIVE SLOTS\tID\tAGE");
    let rows: Vec<Vec<&str>> = out.lines()[1..]
        .iter()
        .map(|l| l.split('\t').collect())
        .collect();
    let tag_rows: Vec<&Vec<&str>> = rows.iter().filter(|r| r[4] == id(&tag_limit)).collect();
    assert_eq!(tag_rows.len(), 1, "{rows:?}");
    assert_eq!(&tag_rows[0][..4], ["tag", tag.as_str(), "5", "0"]);
    assert!(
        rows.iter()
            .any(|r| r[..4] == ["global", global.as_str(), "4", "0"]),
        "{rows:?}"
    );

    pf("pf-limit").args(["rm", &tag]).run().ok();
    pf("pf-limit").args(["rm", "--global", &global]).run().ok();
    let out = pf("pf-limit").args(["get", &tag]).run();
    out.expect_code(4);
    assert_eq!(
        out.stderr.lines().next().unwrap(),
        format!("pf-limit: error: tag concurrency limit '{tag}' not found")
    );
    pf("pf-limit")
        .args(["rm", "--global", &global])
        .run()
        .expect_code(4);
}
