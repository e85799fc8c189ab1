//! `--jq EXPR`: a jq filter (jaq) run on each output object.
//!
//! Besides jaq's standard library a filter has `$ENV`, `@csv` and `@tsv` (as in jq). Filters
//! run on a thread of their own with a large stack, and every function the user defines
//! checks the stack's depth on entry, so a filter that recurses forever (`def f: 1 + f; f`)
//! fails with a usage error instead of overflowing the stack.

use std::cell::Cell;
use std::sync::mpsc;

use jaq_core::load::lex::{Tok, Token};
use jaq_core::load::{Arena, File, Lexer, Loader};
use jaq_core::native::{Fun, v};
use jaq_core::{Compiler, Ctx, Exn, Native, Vars, box_iter::box_once, data, unwrap_valr};
use jaq_json::Val;
use serde_json::Value;

use crate::error::{Error, Result};

/// The stack of the thread that runs filters: reserved, not committed, so it costs only what
/// a filter uses.
const STACK_SIZE: usize = 256 << 20;
/// How deep a filter may go before its functions refuse to recurse further; the rest of the
/// stack is headroom for the deepest native call.
const STACK_BUDGET: usize = 192 << 20;
/// The name of the depth check put at the start of every user-defined function.
const GUARD: &str = "__pf_stack_guard";

/// jq's `@csv` and `@tsv`, which jaq's standard library lacks.
const PF_DEFS: &str = r#"
def @csv: if type != "array" then error("cannot csv-format \(type), only an array") else
  map(if type == "string" then "\"" + (split("\"") | join("\"\"")) + "\""
      elif type == "number" or type == "boolean" then tostring
      elif . == null then ""
      else error("cannot csv-format \(type)") end) | join(",") end;
def @tsv: if type != "array" then error("cannot tsv-format \(type), only an array") else
  map(if type == "string" then split("\\") | join("\\\\") | split("\t") | join("\\t")
        | split("\n") | join("\\n") | split("\r") | join("\\r")
      elif type == "number" or type == "boolean" then tostring
      elif . == null then ""
      else error("cannot tsv-format \(type)") end) | join("\t") end;
"#;

thread_local! {
    /// The stack address where the filter thread started (0 until it has).
    static STACK_BASE: Cell<usize> = const { Cell::new(0) };
}

fn stack_address() -> usize {
    let marker = 0u8;
    std::ptr::addr_of!(marker) as usize
}

fn too_deep() -> bool {
    let base = STACK_BASE.with(Cell::get);
    base != 0 && base.abs_diff(stack_address()) > STACK_BUDGET
}

const DEPTH_MESSAGE: &str = "filter recursed too deep (does a function call itself forever?)";

/// The depth check: passes its input on unchanged, or fails once the stack is nearly used up.
fn stack_guard() -> Fun<data::JustLut<Val>> {
    let native = Native::new(|cv| {
        if too_deep() {
            return box_once(Err(Exn::from(jaq_core::Error::str(DEPTH_MESSAGE))));
        }
        box_once(Ok(cv.1))
    })
    .with_paths(|cv| {
        if too_deep() {
            return box_once(Err(Exn::from(jaq_core::Error::str(DEPTH_MESSAGE))));
        }
        box_once(Ok(cv.1))
    })
    .with_update(|cv, f| {
        if too_deep() {
            return box_once(Err(Exn::from(jaq_core::Error::str(DEPTH_MESSAGE))));
        }
        f(cv.1)
    });
    (GUARD, v(0), native)
}

/// The filter with the depth check put after the `:` of every `def NAME(ARGS):`. The text is
/// lexed (not searched), so `def` inside strings and comments is left alone.
fn guard_definitions(code: &str) -> Option<String> {
    fn walk(code: &str, tokens: &[Token<&str>], at: &mut Vec<usize>) {
        for (i, Token(text, tok)) in tokens.iter().enumerate() {
            match tok {
                Tok::Word if *text == "def" => {
                    let mut j = i + 2;
                    if let Some(Token(t, Tok::Block(_))) = tokens.get(j)
                        && t.starts_with('(')
                    {
                        j += 1;
                    }
                    if let Some(Token(colon, Tok::Sym)) = tokens.get(j)
                        && *colon == ":"
                    {
                        at.push(jaq_core::load::span(code, colon).end);
                    }
                }
                Tok::Block(inner) => walk(code, inner, at),
                Tok::Str(parts) => {
                    for part in parts {
                        if let jaq_core::load::lex::StrPart::Term(token) = part {
                            walk(code, std::slice::from_ref(token), at);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let tokens = Lexer::new(code).lex().ok()?;
    let mut at = Vec::new();
    walk(code, &tokens, &mut at);
    at.sort_unstable();
    let mut out = String::with_capacity(code.len() + at.len() * 24);
    let mut last = 0;
    for offset in at {
        out.push_str(&code[last..offset]);
        out.push_str(&format!(" {GUARD} |"));
        last = offset;
    }
    out.push_str(&code[last..]);
    Some(out)
}

/// A compiled jq filter, owned by the thread that runs it.
pub struct JqFilter {
    requests: mpsc::Sender<Value>,
    answers: mpsc::Receiver<Result<Vec<JqOutput>>>,
}

/// What the filter thread holds: the filter and the value of `$ENV`.
struct Compiled {
    filter: jaq_core::Filter<data::JustLut<Val>>,
    env: Val,
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
        let (requests, jobs) = mpsc::channel::<Value>();
        let (answer, answers) = mpsc::channel();
        let owned = code.to_string();
        std::thread::Builder::new()
            .name("jq".into())
            .stack_size(STACK_SIZE)
            .spawn(move || {
                STACK_BASE.with(|base| base.set(stack_address()));
                let compiled = match Compiled::new(&owned) {
                    Ok(compiled) => {
                        let _ = answer.send(Ok(Vec::new()));
                        compiled
                    }
                    Err(e) => {
                        let _ = answer.send(Err(e));
                        return;
                    }
                };
                // Ends when the JqFilter (the sender) is dropped.
                for input in jobs {
                    if answer.send(compiled.run(&input)).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| Error::io("cannot start the jq thread", e))?;
        let filter = JqFilter { requests, answers };
        filter.answer()?;
        Ok(filter)
    }

    /// Run the filter on one value. A runtime error (e.g. `.[0]` on an object) is an error
    /// naming the filter's message; a filter that recurses too deep is a usage error (exit 2).
    pub fn run(&self, input: &Value) -> Result<Vec<JqOutput>> {
        self.requests
            .send(input.clone())
            .map_err(|_| Error::Failed("jq: the filter thread has ended".into()))?;
        self.answer()
    }

    fn answer(&self) -> Result<Vec<JqOutput>> {
        self.answers
            .recv()
            .map_err(|_| Error::Failed("jq: the filter thread has ended".into()))?
    }
}

impl Compiled {
    /// Compile the user's text (for its error messages), then the same text with each
    /// definition guarded against endless recursion.
    fn new(code: &str) -> Result<Compiled> {
        let plain = compile_text(code, code)?;
        let filter = guard_definitions(code)
            .and_then(|guarded| compile_text(&guarded, code).ok())
            .unwrap_or(plain);
        let env: serde_json::Map<String, Value> = std::env::vars_os()
            .map(|(k, v)| {
                let text = |s: std::ffi::OsString| s.to_string_lossy().into_owned();
                (text(k), Value::String(text(v)))
            })
            .collect();
        let env = to_val(&Value::Object(env))?;
        Ok(Compiled { filter, env })
    }

    fn run(&self, input: &Value) -> Result<Vec<JqOutput>> {
        let val = to_val(input)?;
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.filter.lut, Vars::new([self.env.clone()]));
        let mut out = Vec::new();
        for result in self.filter.id.run((ctx, val)).map(unwrap_valr) {
            let value = result.map_err(|e| {
                let message = e.to_string();
                if message.contains(DEPTH_MESSAGE) {
                    Error::usage_hint(
                        format!("jq: {DEPTH_MESSAGE}"),
                        "a recursive function needs a case that ends it",
                    )
                } else {
                    Error::Failed(format!("jq: {message}"))
                }
            })?;
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

fn to_val(value: &Value) -> Result<Val> {
    let text = serde_json::to_vec(value).expect("JSON values serialize");
    jaq_json::read::parse_single(&text)
        .map_err(|e| Error::Failed(format!("jq: cannot read input: {e}")))
}

/// Compile `text`; errors are described against `user_code` (the text the user wrote).
fn compile_text(text: &str, user_code: &str) -> Result<jaq_core::Filter<data::JustLut<Val>>> {
    let pf_defs = jaq_core::load::parse(PF_DEFS, |p| p.defs()).unwrap_or_default();
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs())
        .chain(pf_defs);
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .chain([stack_guard()]);
    let loader = Loader::new(defs);
    let arena = Arena::default();
    let code = text;
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
            bad_filter(user_code, messages)
        })?;
    Compiler::default()
        .with_funs(funs)
        .with_global_vars(["$ENV"])
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
            bad_filter(user_code, messages)
        })
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
    fn jq_formats_and_env() {
        let run = |code: &str, input: Value| {
            JqFilter::compile(code).unwrap().run(&input).unwrap()[0]
                .text()
                .to_string()
        };
        let row = json!(["a\tb", 1, null, true, "say \"hi\"\n"]);
        assert_eq!(run("@tsv", row.clone()), "a\\tb\t1\t\ttrue\tsay \"hi\"\\n");
        assert_eq!(run("@csv", row), "\"a\tb\",1,,true,\"say \"\"hi\"\"\n\"");
        assert_eq!(run("@json", json!({"a": [1]})), r#"{"a":[1]}"#);
        assert_eq!(run(".a | @base64", json!({"a": "pf"})), "cGY=");
        let path = std::env::var("PATH").unwrap();
        assert_eq!(run("$ENV.PATH", json!(null)), path);
        assert_eq!(run("env.PATH", json!(null)), path);
    }

    #[test]
    fn endless_recursion_is_a_usage_error() {
        let f = JqFilter::compile("def f: 1 + f; f").unwrap();
        assert_eq!(f.run(&json!(0)).unwrap_err().exit_code(), 2);
        // Recursion that ends still works, also in paths and updates, and after the error.
        let f = JqFilter::compile(
            "def fact: if . <= 1 then 1 else . * (. - 1 | fact) end; def g: .a; (10 | fact), (g |= 5 | .a)",
        )
        .unwrap();
        let out: Vec<String> = f
            .run(&json!({"a": 1}))
            .unwrap()
            .iter()
            .map(|o| o.text().to_string())
            .collect();
        assert_eq!(out, ["3628800", "5"]);
        let text = r#""def f: 1" | length"#;
        assert_eq!(
            JqFilter::compile(text).unwrap().run(&json!(0)).unwrap()[0].text(),
            "8"
        );
    }

    #[test]
    fn errors_name_the_position() {
        let e = JqFilter::compile(".a | ").unwrap_err().to_string();
        assert!(e.contains("column"), "{e}");
        let e = JqFilter::compile("nosuchfn(1)").unwrap_err().to_string();
        assert!(e.contains("undefined") && e.contains("column 1"), "{e}");
    }
}
