//! The version Prefect infers when a deployment names none (`get_inferred_version_info`): the
//! commit of the CI run (GitHub, GitLab, Bitbucket, Azure DevOps variables) or of the git
//! checkout with a remote, first 8 hex digits; `None` outside of those.

use std::process::{Command, Stdio};

use serde_json::{Value, json};

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (output.status.success() && !text.is_empty()).then_some(text)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `(version, version_info)` as Prefect would infer them, if it would.
pub fn inferred() -> Option<(String, Value)> {
    let ci = [
        (
            "vcs:github",
            "GITHUB_SHA",
            "GITHUB_REF_NAME",
            "GITHUB_REPOSITORY",
        ),
        (
            "vcs:gitlab",
            "CI_COMMIT_SHA",
            "CI_COMMIT_REF_NAME",
            "CI_PROJECT_NAME",
        ),
        (
            "vcs:bitbucket",
            "BITBUCKET_COMMIT",
            "BITBUCKET_BRANCH",
            "BITBUCKET_REPO_SLUG",
        ),
        (
            "vcs:azuredevops",
            "BUILD_SOURCEVERSION",
            "BUILD_SOURCEBRANCHNAME",
            "BUILD_REPOSITORY_NAME",
        ),
    ];
    for (kind, sha, branch, repository) in ci {
        if let (Some(sha), Some(branch), Some(repository)) =
            (env(sha), env(branch), env(repository))
        {
            // Prefect also reads the commit message with git; without it, it gives up.
            let message = git(&["log", "-1", "--pretty=%B"])?;
            return Some(info(kind, &sha, &branch, &repository, &message));
        }
    }
    let sha = git(&["rev-parse", "HEAD"])?;
    let branch = git(&["rev-parse", "--abbrev-ref", "HEAD"])?;
    let url = git(&["config", "--get", "remote.origin.url"])?;
    let message = git(&["log", "-1", "--pretty=%B"])?;
    let repository = url
        .split_once("://")
        .map_or(url.as_str(), |(_, rest)| {
            rest.split_once('/').map_or("", |(_, path)| path)
        })
        .trim_matches('/')
        .trim_end_matches(".git")
        .to_string();
    let (version, mut value) = info("vcs:git", &sha, &branch, &repository, &message);
    value["url"] = json!(url);
    Some((version, value))
}

fn info(kind: &str, sha: &str, branch: &str, repository: &str, message: &str) -> (String, Value) {
    let version: String = sha.chars().take(8).collect();
    let first_line = message.lines().next().unwrap_or_default();
    (
        version.clone(),
        json!({"type": kind, "version": version, "commit_sha": sha, "message": first_line,
            "branch": branch, "repository": repository}),
    )
}
