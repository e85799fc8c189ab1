//! Prefect's log text search (`--grep`), done by pf on the records a server returns when the
//! server cannot search (before Prefect 3.4.20, or a SQLite too old for its query): the same
//! query syntax and the same matches as the server's `LogFilterTextSearch`.
//!
//! Space-separated terms match when any is found (OR); `-term` or `!term` excludes; `+term` is
//! required; `"a phrase"` is one term (`\"` inside it is a quote). Matching is a
//! case-insensitive substring test on the message and the logger name joined by a space.

use serde_json::Value;

/// A parsed query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextQuery {
    include: Vec<String>,
    exclude: Vec<String>,
    required: Vec<String>,
}

impl TextQuery {
    /// Parse a query as the server does (`prefect.server.utilities.text_search_parser`).
    ///
    /// ```
    /// use pf_common::text_search::TextQuery;
    /// let q = TextQuery::parse(r#"error -debug "two words""#);
    /// assert!(q.matches("an ERROR here", "prefect.flow_runs"));
    /// assert!(q.matches("two words", "x"));
    /// assert!(!q.matches("error at debug level", "x"));
    /// assert!(!q.matches("nothing", "x"));
    /// ```
    pub fn parse(query: &str) -> TextQuery {
        let chars: Vec<char> = query.chars().collect();
        let mut result = TextQuery::default();
        let mut i = 0;
        while i < chars.len() {
            if chars[i].is_whitespace() {
                i += 1;
                continue;
            }
            let mut prefix = None;
            if matches!(chars[i], '-' | '!' | '+') {
                let c = chars[i];
                i += 1;
                if i < chars.len() && !chars[i].is_whitespace() {
                    prefix = Some(c);
                } else {
                    // A prefix followed by a space is ignored.
                    continue;
                }
            }
            let term = if i < chars.len() && chars[i] == '"' {
                i += 1;
                let start = i;
                while i < chars.len() {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 2;
                    } else if chars[i] == '"' {
                        break;
                    } else {
                        i += 1;
                    }
                }
                let phrase: String = chars[start..i.min(chars.len())].iter().collect();
                if i < chars.len() {
                    i += 1;
                }
                let phrase = unescape(&phrase);
                if phrase.trim().is_empty() {
                    continue;
                }
                phrase
            } else {
                let start = i;
                while i < chars.len() && !chars[i].is_whitespace() && chars[i] != '"' {
                    i += 1;
                }
                let term: String = chars[start..i].iter().collect();
                if term.is_empty() {
                    continue;
                }
                term
            };
            match prefix {
                Some('-' | '!') => result.exclude.push(term),
                Some('+') => result.required.push(term),
                _ => result.include.push(term),
            }
        }
        result
    }

    /// Whether a record with this message and logger name matches.
    pub fn matches(&self, message: &str, logger: &str) -> bool {
        let text = format!("{message} {logger}").to_lowercase();
        let found = |term: &String| text.contains(&term.to_lowercase());
        (self.include.is_empty() || self.include.iter().any(found))
            && !self.exclude.iter().any(found)
            && self.required.iter().all(found)
    }

    /// Whether a log record (`message`, `name`) matches.
    pub fn matches_record(&self, record: &Value) -> bool {
        let field = |name: &str| record.get(name).and_then(Value::as_str).unwrap_or_default();
        self.matches(field("message"), field("name"))
    }
}

/// `\"` → `"` and `\\` → `\`; any other backslash stays.
fn unescape(phrase: &str) -> String {
    let mut out = String::new();
    let mut chars = phrase.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&next) = chars.peek()
            && (next == '"' || next == '\\')
        {
            out.push(next);
            chars.next();
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(q: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
        let t = TextQuery::parse(q);
        (t.include, t.exclude, t.required)
    }

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    // Cases from Prefect's tests/server/utilities/test_text_search_parser.py.
    #[test]
    fn parses_like_the_server() {
        assert_eq!(parsed("error"), (v(&["error"]), v(&[]), v(&[])));
        assert_eq!(
            parsed("error -debug !test +required"),
            (v(&["error"]), v(&["debug", "test"]), v(&["required"]))
        );
        assert_eq!(
            parsed(r#""connection timeout" -"debug mode""#),
            (v(&["connection timeout"]), v(&["debug mode"]), v(&[]))
        );
        assert_eq!(
            parsed(r#""say \"hi\"""#),
            (v(&[r#"say "hi""#]), v(&[]), v(&[]))
        );
        assert_eq!(parsed("- error"), (v(&["error"]), v(&[]), v(&[])));
        assert_eq!(
            parsed(r#""unclosed phrase"#),
            (v(&["unclosed phrase"]), v(&[]), v(&[]))
        );
        assert_eq!(parsed("   "), (v(&[]), v(&[]), v(&[])));
        assert_eq!(parsed(r#"a"b""#), (v(&["a", "b"]), v(&[]), v(&[])));
    }

    #[test]
    fn matches_message_and_logger_name() {
        let q = TextQuery::parse("flow_runs");
        assert!(q.matches("hello", "prefect.flow_runs"));
        let q = TextQuery::parse("+hello +world");
        assert!(q.matches("Hello World", "x") && !q.matches("hello", "x"));
        assert!(TextQuery::parse("").matches("anything", "x"));
    }
}
