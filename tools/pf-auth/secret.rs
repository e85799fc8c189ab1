//! Reading secrets and answers from the user: stdin when piped, a no-echo prompt on a terminal.
//! Nothing here ever prints a secret.

use std::io::Write;

use pf_common::Error;
use pf_common::cli::warn;
use pf_common::config::Secret;
use pf_common::output::stdin_is_terminal;

/// Read a secret given as a flag value: `-` (or no flag at all) reads stdin when it is piped and
/// prompts without echo on a terminal; anything else is the secret itself (with a warning that
/// argv is visible to other local users).
pub fn read(value: Option<&str>, what: &str, flag: &str, prompt: &str) -> Result<Secret, Error> {
    let text = match value {
        Some(v) if v != "-" => {
            warn(
                "pf-auth",
                format!(
                    "an {what} on the command line is visible to other local users (ps, shell history); prefer {flag} -"
                ),
            );
            v.to_string()
        }
        _ if stdin_is_terminal() => rpassword::prompt_password(prompt)
            .map_err(|e| Error::io(format!("cannot read the {what} from the terminal"), e))?,
        _ => {
            // The first non-blank line; a read error or a non-text line is a usage error.
            let mut found = String::new();
            for line in pf_common::input::Lines::new(std::io::stdin().lock()) {
                let line = line?;
                if line.invalid_utf8 || line.cut {
                    return Err(Error::usage(format!(
                        "the {what} on stdin line {} is not a line of UTF-8 text",
                        line.number
                    )));
                }
                if !line.text.trim().is_empty() {
                    found = line.text;
                    break;
                }
            }
            found
        }
    };
    let text = text.trim().to_string();
    if text.is_empty() {
        return Err(Error::usage_hint(
            format!("no {what} given"),
            format!("pipe it on stdin with {flag} -, or run pf-auth on a terminal to be prompted"),
        ));
    }
    Ok(Secret::new(text))
}

/// Ask a yes/no question on stderr and read the answer from the terminal; default no.
pub fn confirm(question: &str) -> Result<bool, Error> {
    let answer = ask(&format!("{question} [y/N] "))?;
    Ok(matches!(answer.to_ascii_lowercase().as_str(), "y" | "yes"))
}

/// Print `prompt` on stderr and read one line from stdin.
pub fn ask(prompt: &str) -> Result<String, Error> {
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "{prompt}");
    let _ = stderr.flush();
    match pf_common::input::Lines::new(std::io::stdin().lock()).next() {
        Some(line) => Ok(line?.text.trim().to_string()),
        None => Ok(String::new()),
    }
}

/// Let the user pick one of `choices` by number on a terminal.
pub fn choose(title: &str, choices: &[String]) -> Result<usize, Error> {
    eprintln!("{title}");
    for (i, choice) in choices.iter().enumerate() {
        eprintln!("  {}) {choice}", i + 1);
    }
    for _ in 0..3 {
        let answer = ask(&format!("Choose 1-{}: ", choices.len()))?;
        if let Ok(n) = answer.parse::<usize>()
            && (1..=choices.len()).contains(&n)
        {
            return Ok(n - 1);
        }
        if answer.is_empty() {
            break;
        }
    }
    Err(Error::usage("no choice made"))
}
