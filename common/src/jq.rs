//! `--jq EXPR`: a jq filter (jaq) run on each output object.

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars, data, unwrap_valr};
use jaq_json::Val;
use serde_json::Value;

use crate::error::{Error, Result};

/// A compiled jq filter.
pub struct JqFilter {
    filter: jaq_core::Filter<data::JustLut<Val>>,
}

impl std::fmt::Debug for JqFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JqFilter")
    }
}

/// One result of a filter: a string (printed raw, like `jq -r`) or another JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum JqOutput {
    /// A string result, printed without quotes.
    Raw(String),
    /// Any other result, printed as compact JSON.
    Json(String),
}

impl JqOutput {
    /// The text to print on one line.
    pub fn text(&self) -> &str {
        match self {
            JqOutput::Raw(s) | JqOutput::Json(s) => s,
        }
    }
}

impl JqFilter {
    /// Compile a filter; a syntax error or an unknown function is a usage error (exit 2) that
    /// names the position.
    ///
    /// ```
    /// let f = pf_common::jq::JqFilter::compile(".name").unwrap();
    /// let out = f.run(&serde_json::json!({"name": "etl"})).unwrap();
    /// assert_eq!(out[0].text(), "etl");
    /// assert_eq!(pf_common::jq::JqFilter::compile(".a |").unwrap_err().exit_code(), 2);
    /// ```
    pub fn compile(code: &str) -> Result<JqFilter> {
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let loader = Loader::new(defs);
        let arena = Arena::default();
        let modules = loader
            .load(&arena, File { code, path: () })
            .map_err(|errors| {
                let mut messages = Vec::new();
                for (_, error) in errors {
                    match error {
                        jaq_core::load::Error::Io(items) => {
                            messages.extend(items.into_iter().map(|(_, m)| m));
                        }
                        jaq_core::load::Error::Lex(items) => {
                            for (expect, found) in items {
                                messages.push(describe(
                                    code,
                                    found,
                                    &format!("expected {}", expect.as_str()),
                                ));
                            }
                        }
                        jaq_core::load::Error::Parse(items) => {
                            for (expect, found) in items {
                                messages.push(describe(
                                    code,
                                    found,
                                    &format!("expected {}", expect.as_str()),
                                ));
                            }
                        }
                    }
                }
                bad_filter(code, messages)
            })?;
        let filter = Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errors| {
                let messages = errors
                    .into_iter()
                    .flat_map(|(_, items)| items)
                    .map(|(name, undefined)| {
                        describe(
                            code,
                            name,
                            &format!("undefined {} '{name}'", undefined.as_str()),
                        )
                    })
                    .collect();
                bad_filter(code, messages)
            })?;
        Ok(JqFilter { filter })
    }

    /// Run the filter on one value. A runtime error (e.g. `.[0]` on an object) is an error
    /// naming the filter's message.
    pub fn run(&self, input: &Value) -> Result<Vec<JqOutput>> {
        let text = serde_json::to_vec(input).expect("JSON values serialize");
        let val = jaq_json::read::parse_single(&text)
            .map_err(|e| Error::Failed(format!("jq: cannot read input: {e}")))?;
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.filter.lut, Vars::new([]));
        let mut out = Vec::new();
        for result in self.filter.id.run((ctx, val)).map(unwrap_valr) {
            let value = result.map_err(|e| Error::Failed(format!("jq: {e}")))?;
            out.push(match &value {
                Val::TStr(bytes) | Val::BStr(bytes) => {
                    JqOutput::Raw(String::from_utf8_lossy(bytes).into_owned())
                }
                other => JqOutput::Json(other.to_string()),
            });
        }
        Ok(out)
    }
}

fn describe(code: &str, at: &str, what: &str) -> String {
    let offset = (at.as_ptr() as usize).wrapping_sub(code.as_ptr() as usize);
    if offset <= code.len() {
        let column = code[..offset].chars().count() + 1;
        let found = at.chars().take(12).collect::<String>();
        if found.is_empty() {
            format!("{what} at column {column} (end of filter)")
        } else {
            format!("{what} at column {column}, found '{found}'")
        }
    } else {
        what.to_string()
    }
}

fn bad_filter(code: &str, messages: Vec<String>) -> Error {
    let detail = if messages.is_empty() {
        "syntax error".to_string()
    } else {
        messages.join("; ")
    };
    Error::usage_hint(
        format!("invalid --jq filter: {detail}"),
        format!("filter: {code}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_are_raw_and_others_compact() {
        let f = JqFilter::compile(".a, .b, .c").unwrap();
        let out = f
            .run(&json!({"a": "x", "b": {"k": [1, 2]}, "c": null}))
            .unwrap();
        assert_eq!(
            out,
            vec![
                JqOutput::Raw("x".into()),
                JqOutput::Json(r#"{"k":[1,2]}"#.into()),
                JqOutput::Json("null".into())
            ]
        );
    }

    #[test]
    fn select_drops_values() {
        let f = JqFilter::compile("select(.n > 1) | .n").unwrap();
        assert!(f.run(&json!({"n": 1})).unwrap().is_empty());
        assert_eq!(f.run(&json!({"n": 2})).unwrap()[0].text(), "2");
    }

    #[test]
    fn errors_name_the_position() {
        let e = JqFilter::compile(".a | ").unwrap_err().to_string();
        assert!(e.contains("column"), "{e}");
        let e = JqFilter::compile("nosuchfn(1)").unwrap_err().to_string();
        assert!(e.contains("undefined") && e.contains("column 1"), "{e}");
    }
}
