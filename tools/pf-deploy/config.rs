//! prefect.yaml: reading it (anchors, `<<` merges, `definitions`), picking deployments by
//! `-n NAME` / `FLOW/NAME` / `*` patterns or `--all` as `prefect deploy` does, and the errors
//! that name the file and line.

use std::path::{Path, PathBuf};

use pf_common::{Error, Result};
use serde_json::{Map, Value, json};

/// A prefect.yaml, read.
#[derive(Debug)]
pub struct ProjectFile {
    /// Where it was read from.
    pub path: PathBuf,
    text: String,
    /// Its `deployments`, each a JSON object as written (aliases and merges applied).
    pub deployments: Vec<Value>,
    /// The top-level `build`, `push` and `pull` steps (`pull` is `null` when absent).
    pub actions: Actions,
}

/// Top-level steps, used by deployments that have none of their own.
#[derive(Debug, Default, Clone)]
pub struct Actions {
    /// `build:` steps.
    pub build: Vec<Value>,
    /// `push:` steps.
    pub push: Vec<Value>,
    /// `pull:` steps; `None` when absent or null (Prefect then makes a default).
    pub pull: Option<Vec<Value>>,
}

impl ProjectFile {
    /// Read and check a prefect.yaml.
    pub fn read(path: &Path) -> Result<ProjectFile> {
        let shown = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::usage_hint(
                format!("cannot read {shown}: {e}"),
                "run pf-deploy in the folder of your prefect.yaml, or give --prefect-file, or an entrypoint FILE.py:FUNCTION",
            )
        })?;
        let mut yaml: serde_norway::Value = serde_norway::from_str(&text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!("{shown}:{}:{}", l.line(), l.column()))
                .unwrap_or_else(|| shown.to_string());
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message);
            Error::usage(format!("{at}: malformed YAML: {message}"))
        })?;
        yaml.apply_merge()
            .map_err(|e| Error::usage(format!("{shown}: bad '<<' merge: {e}")))?;
        let root: Value = if yaml.is_null() {
            json!({})
        } else {
            serde_json::to_value(&yaml)
                .map_err(|e| Error::usage(format!("{shown}: unsupported YAML: {e}")))?
        };
        let mut file = ProjectFile {
            path: path.to_path_buf(),
            text,
            deployments: Vec::new(),
            actions: Actions::default(),
        };
        let Value::Object(root) = root else {
            return Err(Error::usage(format!(
                "{}: a prefect.yaml must be a mapping (prefect-version, build, push, pull, deployments)",
                file.at(1)
            )));
        };
        file.actions = Actions {
            build: file.steps(&root, "build")?.unwrap_or_default(),
            push: file.steps(&root, "push")?.unwrap_or_default(),
            pull: file.steps(&root, "pull")?,
        };
        match root.get("deployments") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    if !item.is_object() {
                        return Err(Error::usage(format!(
                            "{}: deployment #{} must be a mapping",
                            file.at(file.line_of_key("deployments")),
                            i + 1
                        )));
                    }
                    file.deployments.push(item.clone());
                }
            }
            Some(_) => {
                return Err(Error::usage(format!(
                    "{}: 'deployments' must be a list",
                    file.at(file.line_of_key("deployments"))
                )));
            }
        }
        Ok(file)
    }

    fn steps(&self, root: &Map<String, Value>, key: &str) -> Result<Option<Vec<Value>>> {
        match root.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(steps)) => {
                for step in steps {
                    check_step(step).map_err(|why| {
                        Error::usage(format!(
                            "{}: {key} step {why}",
                            self.at(self.line_of_key(key))
                        ))
                    })?;
                }
                Ok(Some(steps.clone()))
            }
            Some(_) => Err(Error::usage(format!(
                "{}: '{key}' must be a list of steps",
                self.at(self.line_of_key(key))
            ))),
        }
    }

    /// `FILE:LINE`.
    pub fn at(&self, line: usize) -> String {
        format!("{}:{line}", self.path.display())
    }

    /// The line of a top-level key (1 when not found).
    fn line_of_key(&self, key: &str) -> usize {
        self.text
            .lines()
            .position(|l| l.starts_with(&format!("{key}:")))
            .map_or(1, |i| i + 1)
    }

    /// The line where deployment `index` (0-based) starts: its `- name: NAME` line when the
    /// name is written literally, else the `deployments:` line.
    pub fn line_of_deployment(&self, index: usize) -> usize {
        let name = self
            .deployments
            .get(index)
            .and_then(|d| d.get("name"))
            .and_then(Value::as_str);
        if let Some(name) = name {
            for (i, line) in self.text.lines().enumerate() {
                let t = line.trim_start().trim_start_matches('-').trim_start();
                if let Some(v) = t.strip_prefix("name:") {
                    let v = v
                        .split(" #")
                        .next()
                        .unwrap_or(v)
                        .trim()
                        .trim_matches(|c| c == '"' || c == '\'');
                    if v == name {
                        return i + 1;
                    }
                }
            }
        }
        self.line_of_key("deployments")
    }
}

/// A step is a mapping of one key, `module.function`, to its inputs.
pub fn check_step(step: &Value) -> std::result::Result<(), String> {
    match step.as_object() {
        Some(map) if map.len() == 1 => {
            let (name, inputs) = map.iter().next().expect("one key");
            if !name.contains('.') {
                return Err(format!(
                    "'{name}' is not a fully qualified function name (module.function)"
                ));
            }
            if !(inputs.is_object() || inputs.is_null()) {
                return Err(format!("'{name}' must map to its inputs"));
            }
            Ok(())
        }
        _ => Err(format!(
            "{step} must be a mapping of one key (module.function: inputs)"
        )),
    }
}

/// The function part of an entrypoint (`flows/etl.py:nightly` → `nightly`).
fn entrypoint_function(config: &Value) -> Option<&str> {
    let entrypoint = config.get("entrypoint")?.as_str()?;
    Some(entrypoint.rsplit(':').next().unwrap_or(entrypoint))
}

/// `*` matches any run of characters (Prefect turns it into `.*`).
fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

/// Whether `-n` selector matches a deployment: `NAME`, `FLOW/NAME` (FLOW is the entrypoint's
/// function, `-` and `_` alike, as Prefect matches it), either part with `*`.
fn selects(selector: &str, config: &Value) -> bool {
    let Some(name) = config.get("name").and_then(Value::as_str) else {
        return false;
    };
    match selector.split_once('/') {
        None => wildcard(selector, name),
        Some((flow, deployment)) => {
            let function = entrypoint_function(config)
                .unwrap_or_default()
                .replace('_', "-");
            wildcard(&flow.replace('_', "-"), &function) && wildcard(deployment, name)
        }
    }
}

/// The indexes of the deployments to deploy: every one with `--all`; those `names` select;
/// the only one when the file has one. A selector that matches nothing is an error (before
/// anything is written).
pub fn pick(file: &ProjectFile, names: &[String], all: bool) -> Result<Vec<usize>> {
    let shown = file.path.display();
    if all {
        let unnamed: Vec<usize> = (0..file.deployments.len())
            .filter(|i| {
                file.deployments[*i]
                    .get("name")
                    .and_then(Value::as_str)
                    .is_none()
            })
            .collect();
        if let Some(i) = unnamed.first() {
            return Err(Error::usage(format!(
                "{}: deployment #{} has no name",
                file.at(file.line_of_deployment(*i)),
                i + 1
            )));
        }
        if file.deployments.is_empty() {
            return Err(Error::usage(format!("{shown} has no deployments")));
        }
        return Ok((0..file.deployments.len()).collect());
    }
    if names.is_empty() {
        return match file.deployments.len() {
            1 => Ok(vec![0]),
            0 => Err(Error::usage_hint(
                format!("{shown} has no deployments"),
                "deploy an entrypoint: pf-deploy FILE.py:FUNCTION -n NAME --pool POOL",
            )),
            n => Err(Error::usage_hint(
                format!("{shown} has {n} deployments: name them with -n NAME, or use --all"),
                format!("names: {}", names_of(file).join(", ")),
            )),
        };
    }
    let mut picked = Vec::new();
    for selector in names {
        let matched: Vec<usize> = (0..file.deployments.len())
            .filter(|i| selects(selector, &file.deployments[*i]))
            .collect();
        if matched.is_empty() {
            return Err(Error::not_found(
                format!("no deployment '{selector}' in {shown}"),
                Some(format!("names: {}", names_of(file).join(", "))),
            ));
        }
        for i in matched {
            if !picked.contains(&i) {
                picked.push(i);
            }
        }
    }
    Ok(picked)
}

fn names_of(file: &ProjectFile) -> Vec<String> {
    file.deployments
        .iter()
        .map(|d| {
            let name = d.get("name").and_then(Value::as_str).unwrap_or("(unnamed)");
            match entrypoint_function(d) {
                Some(f) => format!("{}/{name}", f.replace('_', "-")),
                None => name.to_string(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard("etl-*", "etl-nightly"));
        assert!(wildcard("*", "x"));
        assert!(wildcard("a*b*c", "aXbYc"));
        assert!(!wildcard("a*b", "ab-c"));
        assert!(!wildcard("etl", "etl2"));
    }

    #[test]
    fn selectors() {
        let config = json!({"name": "nightly", "entrypoint": "flows/etl.py:load_data"});
        assert!(selects("nightly", &config));
        assert!(selects("load-data/nightly", &config));
        assert!(selects("load_data/night*", &config));
        assert!(selects("*/nightly", &config));
        assert!(!selects("other/nightly", &config));
    }
}
