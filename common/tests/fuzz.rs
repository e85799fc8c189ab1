//! Property-based fuzzing of everything pf parses from users and servers: REFs and NDJSON stdin
//! lines, `--param KEY=JSON`, times, and error bodies. Each property runs a bounded number of
//! random cases in the normal `cargo test` (set PROPTEST_CASES for a longer run); none may
//! panic, and each keeps the promise its caller relies on (one line, bounded length, …).

use pf_common::error::summarize_body;
use pf_common::input::{Lines, parse_ref_line};
use pf_common::params::parse_key_json;
use pf_common::time::{parse_duration, parse_time_ago, parse_time_from_now};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text that looks like a time: numbers of any size, exponents, units, signs, junk.
fn time_like() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        "[0-9]{1,30}",
        "[0-9]{1,5}e[+-]?[0-9]{1,4}",
        Just("inf".to_string()),
        Just("NaN".to_string()),
    ];
    let unit = prop_oneof![
        Just(""),
        Just("s"),
        Just("m"),
        Just("h"),
        Just("d"),
        Just("w"),
        Just("ms"),
        Just("minutes"),
        Just("x"),
    ];
    prop_oneof![
        (number.clone(), unit.clone()).prop_map(|(n, u)| format!("{n}{u}")),
        (number.clone(), unit.clone(), number, unit)
            .prop_map(|(a, u, b, v)| format!("{a}{u}{b}{v}")),
        "\\PC{0,40}",
        "[-+]?[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})?",
    ]
}

/// A JSON-ish line: objects with odd ids, deep nesting, junk.
fn ndjson_like() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        "\\PC{0,20}".prop_map(|s| serde_json::to_string(&s).unwrap()),
    ];
    let value = leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("[a-z]{1,5}", inner), 0..4).prop_map(|kv| {
                let fields: Vec<String> = kv
                    .into_iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    });
    prop_oneof![
        value.clone().prop_map(|v| format!("{{\"id\":{v}}}")),
        value,
        "\\{[^\n]{0,40}",
        "\\PC{0,60}",
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn ref_lines_never_panic_and_a_ref_is_one_word(line in prop_oneof![ndjson_like(), "\\PC{0,80}"]) {
        if let Ok(Some(reference)) = parse_ref_line(&line) {
            prop_assert!(!reference.is_empty());
        }
    }

    #[test]
    fn stdin_lines_are_bounded_and_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..4096),
        cap in 1usize..64,
    ) {
        let mut count = 0;
        for line in Lines::with_cap(&bytes[..], cap) {
            let line = line.unwrap();
            count += 1;
            // Each replacement character may stand for one invalid byte: 3 bytes for 1.
            prop_assert!(line.text.len() <= cap * 3, "{} > {}", line.text.len(), cap);
            prop_assert!(!line.text.contains('\n'));
        }
        let expected = bytes.split(|b| *b == b'\n').count()
            - usize::from(bytes.is_empty() || bytes.ends_with(b"\n"));
        prop_assert_eq!(count, expected);
    }

    #[test]
    fn params_never_panic(text in "\\PC{0,40}(=\\PC{0,40})?") {
        if let Ok((key, _)) = parse_key_json(&text, "--param") {
            prop_assert!(!key.is_empty());
        }
    }

    #[test]
    fn times_never_panic(text in time_like()) {
        let _ = parse_duration(&text);
        let _ = parse_time_ago(&text);
        let _ = parse_time_from_now(&text);
    }

    #[test]
    fn error_bodies_summarise_to_one_bounded_line(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..2048),
            "\\PC{0,600}".prop_map(String::into_bytes),
            ndjson_like().prop_map(String::into_bytes),
            "(<html>)?(<title>)?\\PC{0,300}(</title>)?[\\s\\S]{0,100}".prop_map(String::into_bytes),
        ]
    ) {
        let summary = summarize_body(&body);
        prop_assert!(!summary.contains('\n') && !summary.contains('\r'), "{:?}", summary);
        prop_assert!(summary.chars().count() <= 301, "{}", summary.chars().count());
    }
}
