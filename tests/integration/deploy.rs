//! pf-deploy against the real server (and the real process worker): an entrypoint deployed and
//! run with its defaults; a prefect.yaml deployed the same as `prefect deploy` deploys it;
//! re-deploys that write nothing; build step outputs in templates; bad inputs refused before
//! any write.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::harness::{Pf, Run, Server, pf, temp_dir, unique, venv_bin};
use crate::worker::{self, POOL, flows_file};

/// A project folder holding a copy of the test flows (and whatever prefect.yaml a test writes).
fn project() -> PathBuf {
    let dir = temp_dir("deploy-project");
    std::fs::copy(flows_file(), dir.join("flows.py")).unwrap();
    std::fs::write(dir.join("plain.py"), "def plain():\n    return 1\n").unwrap();
    dir
}

fn pf_deploy(dir: &Path) -> Pf {
    pf("pf-deploy")
        .env("PF_PYTHON", venv_bin("python"))
        .current_dir(dir)
}

/// Requests that write (POST/PATCH/PUT/DELETE lines of `-v`), other than the `/filter` reads.
fn writes(run: &Run) -> Vec<String> {
    run.stderr
        .lines()
        .filter(|l| {
            let l = l.trim_start_matches("pf: ");
            ["POST ", "PATCH ", "PUT ", "DELETE "]
                .iter()
                .any(|m| l.starts_with(m))
                && !l.contains("/filter")
        })
        .map(str::to_string)
        .collect()
}

fn deployment(server: &Server, full_name: &str) -> (u16, Value) {
    server
        .api()
        .request("GET", &format!("deployments/name/{full_name}"), None)
}

#[test]
fn an_entrypoint_deploys_and_runs_with_its_defaults() {
    worker::worker();
    let dir = project();
    let name = unique("entry");
    let run = pf_deploy(&dir)
        .args(["flows.py:hello", "-n", &name, "--pool", POOL])
        .args([
            "--param",
            "name=Deployed",
            "--param",
            "lines=2",
            "--tag",
            "pf-deploy-test",
        ])
        .args(["--interval", "1d", "--paused"])
        .run();
    run.ok();
    let rows = run.json_lines();
    assert_eq!(rows.len(), 1, "{run:?}");
    assert_eq!(rows[0]["result"], "created");
    assert_eq!(rows[0]["name"], name.as_str());
    let id = rows[0]["id"].as_str().unwrap().to_string();
    let (_, stored) = deployment(Server::shared(), &format!("pf-hello/{name}"));
    assert_eq!(stored["id"], id.as_str());
    assert_eq!(
        stored["parameters"],
        json!({"name": "Deployed", "lines": 2})
    );
    assert_eq!(stored["tags"], json!(["pf-deploy-test"]));
    assert_eq!(stored["entrypoint"], "flows.py:hello");
    assert_eq!(stored["paused"], true);
    assert_eq!(stored["schedules"][0]["schedule"]["interval"], 86400.0);
    assert_eq!(
        stored["pull_steps"],
        json!([{"prefect.deployments.steps.set_working_directory": {"directory": dir.canonicalize().unwrap().display().to_string()}}])
    );

    let watch = pf("pf-run")
        .args([
            "-n",
            &format!("pf-hello/{name}"),
            "--watch",
            "--timeout",
            "3m",
        ])
        .run();
    watch.ok();
    let runs = Server::shared().api().post(
        "flow_runs/filter",
        json!({"deployments": {"id": {"any_": [id]}}}),
    );
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["state_type"], "COMPLETED");
    assert_eq!(
        runs[0]["parameters"],
        json!({"name": "Deployed", "lines": 2})
    );

    // --quiet: the id alone, and nothing written the second time; the flow described by
    // Prefect's own loader (not read from the source) is the same.
    let again = pf_deploy(&dir)
        .env("PF_DEPLOY_FULL_LOAD", "1")
        .args([
            "flows.py:hello",
            "-n",
            &name,
            "--pool",
            POOL,
            "-v",
            "--quiet",
        ])
        .args([
            "--param",
            "name=Deployed",
            "--param",
            "lines=2",
            "--tag",
            "pf-deploy-test",
        ])
        .args(["--interval", "1d", "--paused"])
        .run();
    again.ok();
    assert_eq!(again.stdout, format!("{id}\n"));
    assert_eq!(writes(&again), Vec::<String>::new(), "{again:?}");
}

/// A prefect.yaml with two deployments, a definitions anchor (`<<` merge and alias), `$ENV`,
/// variable and block templating, a pull step and a cron schedule.
fn two_deployments_yaml(suffix: &str, pool: &str) -> String {
    format!(
        r#"name: pf-deploy-test
prefect-version: 3.9.1

definitions:
  work_pools:
    shared_pool: &shared_pool
      name: {pool}
      job_variables:
        env:
          REGION: "{{{{ $PF_DEPLOY_TEST_REGION }}}}"
  schedules:
    nightly: &nightly
      cron: "0 3 * * *"
      timezone: Europe/Paris

pull:
  - prefect.deployments.steps.set_working_directory:
      directory: "{{{{ $PF_DEPLOY_TEST_DIR }}}}"

deployments:
  - name: hello-{suffix}
    entrypoint: flows.py:hello
    description: "says hello to {{{{ prefect.blocks.secret.pf-deploy-greeting-{suffix} }}}}"
    parameters:
      name: "{{{{ prefect.variables.pf_deploy_who_{suffix} }}}}"
    tags: ["{{{{ $PF_DEPLOY_TEST_REGION }}}}", nightly]
    work_pool: *shared_pool
    schedules:
      - *nightly
  - name: typed-{suffix}
    entrypoint: flows.py:typed
    version: "1.0"
    parameters:
      count: 2
      names: [a, b]
    work_pool:
      <<: *shared_pool
      work_queue_name: fast
"#
    )
}

/// What both tools store, without what differs between two servers by nature.
fn comparable(mut deployment: Value) -> Value {
    let object = deployment.as_object_mut().unwrap();
    for key in [
        "id",
        "created",
        "updated",
        "flow_id",
        "work_queue_id",
        "labels",
        "last_polled",
        "status",
        "created_by",
        "updated_by",
    ] {
        object.remove(key);
    }
    for schedule in object["schedules"].as_array_mut().unwrap() {
        let schedule = schedule.as_object_mut().unwrap();
        for key in ["id", "created", "updated", "deployment_id"] {
            schedule.remove(key);
        }
    }
    deployment
}

#[test]
fn a_prefect_yaml_is_stored_as_prefect_deploy_stores_it() {
    // Two servers: `prefect deploy` into a server of its own, pf-deploy of the same file into
    // the shared one; the stored deployments are compared without ids and timestamps.
    let server = Server::shared();
    let theirs_server = Server::start(&[]);
    let suffix = unique("y");
    let pool = unique("pf-deploy-pool");
    let dir = project();
    std::fs::write(
        dir.join("prefect.yaml"),
        two_deployments_yaml(&suffix, &pool),
    )
    .unwrap();
    for (api, target) in [
        (server.api(), server),
        (theirs_server.api(), &theirs_server),
    ] {
        api.post("work_pools/", json!({"name": pool, "type": "process"}));
        api.post(
            "variables/",
            json!({"name": format!("pf_deploy_who_{suffix}"), "value": "Marvin"}),
        );
        Pf::new("pf-secret")
            .server(target)
            .args(["set", &format!("pf-deploy-greeting-{suffix}")])
            .stdin("the world")
            .run()
            .ok();
    }
    let dir_text = dir.display().to_string();
    let full_names = [
        format!("pf-hello/hello-{suffix}"),
        format!("pf-typed/typed-{suffix}"),
    ];

    let home = temp_dir("prefect-deploy-home");
    let output = Command::new(venv_bin("prefect"))
        .args(["--no-prompt", "deploy", "--all"])
        .current_dir(&dir)
        .env("PREFECT_API_URL", &theirs_server.url)
        .env("PREFECT_HOME", &home)
        .env("PF_DEPLOY_TEST_REGION", "eu-west-1")
        .env("PF_DEPLOY_TEST_DIR", &dir_text)
        .output()
        .unwrap();
    assert!(output.status.success(), "prefect deploy failed: {output:?}");
    let theirs: Vec<Value> = full_names
        .iter()
        .map(|n| deployment(&theirs_server, n).1)
        .collect();

    // On top of Prefect's own deployments pf-deploy finds nothing to change but the text
    // "None" Prefect stores for a flow without a docstring (docs/decisions.md).
    let dry = pf_deploy(&dir)
        .server(&theirs_server)
        .args(["--all", "--dry-run", "-v"])
        .env("PF_DEPLOY_TEST_REGION", "eu-west-1")
        .env("PF_DEPLOY_TEST_DIR", &dir_text)
        .run();
    dry.ok();
    assert_eq!(writes(&dry), Vec::<String>::new(), "{dry:?}");
    let planned: Vec<(Value, Value)> = dry
        .json_lines()
        .iter()
        .map(|d| (d["result"].clone(), d["changes"].clone()))
        .collect();
    assert_eq!(
        planned,
        [
            (json!("unchanged"), json!([])),
            (
                json!("would update"),
                json!([{"field": "description", "old": "None", "new": null}])
            ),
        ],
        "{dry:?}"
    );
    drop(theirs_server);

    let run = pf_deploy(&dir)
        .args(["--all", "-v"])
        .env("PF_DEPLOY_TEST_REGION", "eu-west-1")
        .env("PF_DEPLOY_TEST_DIR", &dir_text)
        .run();
    run.ok();
    let results: Vec<(String, String)> = run
        .json_lines()
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_string(),
                d["result"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        results,
        [
            (format!("hello-{suffix}"), "created".into()),
            (format!("typed-{suffix}"), "created".into())
        ]
    );
    for (full_name, theirs) in full_names.iter().zip(theirs) {
        let (status, ours) = deployment(server, full_name);
        assert_eq!(status, 200, "{full_name}: {ours}");
        let (mut ours, theirs) = (comparable(ours), comparable(theirs));
        if theirs["description"] == "None" {
            assert_eq!(ours["description"], Value::Null, "{full_name}");
            ours["description"] = json!("None");
        }
        assert_eq!(ours, theirs, "{full_name}");
    }
    let (_, hello) = deployment(server, &full_names[0]);
    assert_eq!(hello["parameters"], json!({"name": "Marvin"}));
    assert_eq!(hello["description"], "says hello to the world");
    assert_eq!(hello["tags"], json!(["eu-west-1", "nightly"]));
    assert_eq!(
        hello["job_variables"],
        json!({"env": {"REGION": "eu-west-1"}})
    );
    assert_eq!(hello["schedules"][0]["schedule"]["cron"], "0 3 * * *");
    assert_eq!(hello["work_queue_name"], "default");
    let (_, typed) = deployment(server, &full_names[1]);
    assert_eq!(typed["work_queue_name"], "fast");

    // Again: unchanged, and nothing written.
    let again = pf_deploy(&dir)
        .args(["--all", "-v"])
        .env("PF_DEPLOY_TEST_REGION", "eu-west-1")
        .env("PF_DEPLOY_TEST_DIR", &dir_text)
        .run();
    again.ok();
    let results: Vec<Value> = again
        .json_lines()
        .iter()
        .map(|d| d["result"].clone())
        .collect();
    assert_eq!(results, [json!("unchanged"), json!("unchanged")]);
    assert_eq!(writes(&again), Vec::<String>::new(), "{again:?}");

    // A changed environment: the dry run shows the diff on a terminal and writes nothing;
    // then one PATCH of the changed fields (the schedule set is left alone).
    let dry = pf_deploy(&dir)
        .args(["-n", &format!("hello-{suffix}"), "--dry-run", "-v"])
        .env("PF_DEPLOY_TEST_REGION", "us-east-2")
        .env("PF_DEPLOY_TEST_DIR", &dir_text)
        .env("NO_COLOR", "1")
        .tty(200)
        .run();
    dry.ok();
    assert_eq!(writes(&dry), Vec::<String>::new(), "{dry:?}");
    let diff: Vec<&str> = dry
        .stdout
        .lines()
        .skip_while(|l| !l.ends_with("(would update):"))
        .collect();
    assert_eq!(
        diff,
        [
            format!("pf-hello/hello-{suffix} (would update):").as_str(),
            r#"- tags: ["eu-west-1","nightly"]"#,
            r#"+ tags: ["us-east-2","nightly"]"#,
            r#"- job_variables: {"env":{"REGION":"eu-west-1"}}"#,
            r#"+ job_variables: {"env":{"REGION":"us-east-2"}}"#,
        ]
    );
    let update = pf_deploy(&dir)
        .args(["-n", &format!("hello/hello-{suffix}"), "-v"])
        .env("PF_DEPLOY_TEST_REGION", "us-east-2")
        .env("PF_DEPLOY_TEST_DIR", &dir_text)
        .run();
    update.ok();
    assert_eq!(update.json_lines()[0]["result"], "updated");
    let written = writes(&update);
    assert_eq!(written.len(), 1, "{update:?}");
    assert!(
        written[0].starts_with("pf: PATCH /deployments/"),
        "{written:?}"
    );
    let (_, hello) = deployment(server, &format!("pf-hello/hello-{suffix}"));
    assert_eq!(hello["tags"], json!(["us-east-2", "nightly"]));
    assert_eq!(hello["schedules"].as_array().unwrap().len(), 1);
}

#[test]
fn a_build_step_output_fills_a_template() {
    worker::worker();
    let dir = project();
    let name = unique("built");
    std::fs::write(
        dir.join("prefect.yaml"),
        format!(
            r#"build:
  - prefect.deployments.steps.run_shell_script:
      id: get-version
      script: echo v1.2.3
deployments:
  - name: {name}
    entrypoint: flows.py:hello
    version: "{{{{ get-version.stdout }}}}"
    tags: ["release-{{{{ get-version.stdout }}}}"]
    work_pool:
      name: {POOL}
"#
        ),
    )
    .unwrap();
    let run = pf_deploy(&dir).run();
    run.ok();
    let (_, stored) = deployment(Server::shared(), &format!("pf-hello/{name}"));
    assert_eq!(stored["version"], "v1.2.3", "{run:?}");
    assert_eq!(stored["tags"], json!(["release-v1.2.3"]));
}

#[test]
fn bad_inputs_are_one_line_errors_and_write_nothing() {
    worker::worker();
    let dir = project();
    let name = unique("bad");
    std::fs::write(
        dir.join("broken.yaml"),
        format!("deployments:\n  - name: {name}\n    entrypoint: [flows.py:hello\n"),
    )
    .unwrap();
    let cases: Vec<(Vec<String>, i32, String)> = vec![
        (
            vec!["missing.py:hello".into(), "-n".into(), name.clone(), "--pool".into(), POOL.into()],
            2,
            "pf-deploy: error: missing.py:hello: entrypoint file 'missing.py' not found".into(),
        ),
        (
            vec!["plain.py:plain".into(), "-n".into(), name.clone(), "--pool".into(), POOL.into()],
            2,
            "pf-deploy: error: plain.py:plain: Function with name 'plain' is not a flow. Make sure that it is decorated with '@flow'.".into(),
        ),
        (
            vec!["flows.py:typed".into(), "-n".into(), name.clone(), "--pool".into(), POOL.into(), "--param".into(), "count=\"many\"".into()],
            2,
            "pf-deploy: error: flows.py:typed: parameter 'count' must be an integer, not a string \"many\"".into(),
        ),
        (
            vec!["flows.py:hello".into(), "-n".into(), name.clone(), "--pool".into(), "no-such-pool-pf".into()],
            4,
            "pf-deploy: error: flows.py:hello: work pool 'no-such-pool-pf' does not exist".into(),
        ),
        (
            vec!["--prefect-file".into(), "broken.yaml".into()],
            2,
            "pf-deploy: error: broken.yaml:4:1: malformed YAML: did not find expected ',' or ']'".into(),
        ),
    ];
    for (args, code, first_line) in cases {
        let run = pf_deploy(&dir).args(&args).arg("-v").run();
        run.expect_code(code);
        let errors: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| !l.starts_with("pf: "))
            .collect();
        assert_eq!(errors[0], first_line, "{args:?}: {run:?}");
        assert!(
            errors.len() <= 2 && errors[1..].iter().all(|l| l.starts_with("hint: ")),
            "{run:?}"
        );
        assert_eq!(writes(&run), Vec::<String>::new(), "{args:?}");
        assert_eq!(run.stdout, "");
    }
    for flow in ["pf-hello", "pf-typed"] {
        assert_eq!(
            deployment(Server::shared(), &format!("{flow}/{name}")).0,
            404
        );
    }
}

#[test]
fn create_pool_makes_a_missing_pool_but_not_in_a_dry_run() {
    let dir = project();
    let name = unique("pooled");
    let pool = unique("pf-deploy-new-pool");
    let args = [
        "flows.py:hello",
        "-n",
        &name,
        "--pool",
        &pool,
        "--create-pool",
        "process",
        "-v",
    ];
    let dry = pf_deploy(&dir).args(args).arg("--dry-run").run();
    dry.ok();
    assert_eq!(dry.json_lines()[0]["result"], "would create");
    assert_eq!(writes(&dry), Vec::<String>::new(), "{dry:?}");
    let api = Server::shared().api();
    assert_eq!(
        api.request("GET", &format!("work_pools/{pool}"), None).0,
        404
    );

    let run = pf_deploy(&dir).args(args).run();
    run.ok();
    assert_eq!(run.json_lines()[0]["result"], "created");
    let (_, created) = api.request("GET", &format!("work_pools/{pool}"), None);
    assert_eq!(created["type"], "process");
    assert_eq!(
        deployment(Server::shared(), &format!("pf-hello/{name}")).1["work_pool_name"],
        pool.as_str()
    );
}

#[test]
fn skipped_steps_do_not_run_and_an_rrule_keeps_its_timezone() {
    let server = Server::shared();
    let dir = project();
    let name = unique("skipped");
    let pool = unique("pf-deploy-skip-pool");
    server
        .api()
        .post("work_pools/", json!({"name": pool, "type": "process"}));
    let (built, pushed) = (dir.join("built"), dir.join("pushed"));
    std::fs::write(
        dir.join("prefect.yaml"),
        format!(
            r#"build:
  - prefect.deployments.steps.run_shell_script:
      script: touch {built}
push:
  - prefect.deployments.steps.run_shell_script:
      script: touch {pushed}
deployments:
  - name: {name}
    entrypoint: flows.py:hello
    work_pool:
      name: {pool}
"#,
            built = built.display(),
            pushed = pushed.display(),
        ),
    )
    .unwrap();
    let rrule = "FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9;BYMINUTE=30";
    let deploy = |extra: &[&str]| {
        pf_deploy(&dir)
            .args(["-n", &name, "-v", "--rrule", rrule])
            .args(["--timezone", "America/New_York"])
            .args(extra)
            .run()
    };
    let first = deploy(&["--skip-build", "--skip-push"]);
    first.ok();
    assert_eq!(first.json_lines()[0]["result"], "created", "{first:?}");
    assert!(!built.exists() && !pushed.exists(), "a skipped step ran");
    let (_, stored) = deployment(server, &format!("pf-hello/{name}"));
    let schedules = stored["schedules"].as_array().unwrap();
    assert_eq!(schedules.len(), 1, "{stored}");
    let schedule = &schedules[0]["schedule"];
    assert_eq!(schedule["timezone"], "America/New_York", "{schedule}");
    let stored_rrule = schedule["rrule"].as_str().unwrap();
    assert!(
        stored_rrule == rrule || stored_rrule.ends_with(&format!("\n{rrule}")),
        "{stored_rrule}"
    );

    // The steps run when not skipped; the deployment they describe is the same: nothing
    // written (the server's DTSTART in the rrule is not a difference).
    let again = deploy(&[]);
    again.ok();
    assert!(built.exists(), "the build step did not run: {again:?}");
    assert!(pushed.exists(), "the push step did not run: {again:?}");
    assert_eq!(again.json_lines()[0]["result"], "unchanged", "{again:?}");
    assert_eq!(writes(&again), Vec::<String>::new(), "{again:?}");

    // Only the push step skipped: the build step runs, the push step does not.
    std::fs::remove_file(&built).unwrap();
    std::fs::remove_file(&pushed).unwrap();
    deploy(&["--skip-push"]).ok();
    assert!(built.exists() && !pushed.exists());
}
