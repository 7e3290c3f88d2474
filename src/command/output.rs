//! Results from a command's stdout: a JSON object, or `key=value` lines.

use collector_core::ResultKind;

/// How a command gives its results on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// One JSON object, `{"time": 0.25, "plot": "fig.png"}` (the default).
    /// When the whole of stdout is not one, its last non-empty line is
    /// tried, so a program may log before it.
    #[default]
    Json,
    /// Lines `key = value`; lines without `=`, and keys that name no
    /// result, are ignored.
    KeyValue,
    /// Nothing: stdout is discarded, and the only result is the built-in
    /// `wall_time`.
    None,
}

impl OutputFormat {
    /// The spelling in a sweep file.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Json => "json",
            OutputFormat::KeyValue => "key-value",
            OutputFormat::None => "none",
        }
    }
}

/// One result as the command gave it.
#[derive(Debug, Clone, PartialEq)]
pub enum Given {
    /// A JSON value.
    Json(serde_json::Value),
    /// The text after `=`, trimmed.
    Text(String),
}

/// A result value read from the output, of its result's kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// A float (or the 1.0 / 0.0 of a bool).
    Float(f64),
    /// A bool.
    Bool(bool),
    /// The components of a vector.
    Vec(Vec<f64>),
    /// A string.
    Text(String),
    /// A file the command names (path, image, video, recording, blob).
    File(String),
    /// Any value, kept as the in-memory object of a reference result.
    Object(serde_json::Value),
}

/// Reads the values of `wanted` (result names, in order) from `stdout`:
/// one entry per name, `None` when the output does not give it. An error
/// says why the output could not be read at all.
pub fn read_output(
    format: OutputFormat,
    stdout: &[u8],
    wanted: &[&str],
) -> Result<Vec<Option<Given>>, String> {
    match format {
        OutputFormat::None => Ok(vec![None; wanted.len()]),
        OutputFormat::Json => read_json(stdout, wanted),
        OutputFormat::KeyValue => read_key_value(stdout, wanted),
    }
}

fn utf8(stdout: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(stdout).map_err(|e| format!("stdout is not UTF-8 text ({e})"))
}

/// The start of `text`, for a message.
fn excerpt(text: &str) -> String {
    const MAX: usize = 120;
    let t = text.trim();
    if t.is_empty() {
        return "stdout is empty".into();
    }
    let mut cut: String = t.chars().take(MAX).collect();
    if cut.len() < t.len() {
        cut.push('…');
    }
    format!("stdout starts with {cut:?}")
}

fn read_json(stdout: &[u8], wanted: &[&str]) -> Result<Vec<Option<Given>>, String> {
    let text = utf8(stdout)?;
    let object = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(m)) => m,
        whole => {
            let last = text.lines().rev().find(|l| !l.trim().is_empty());
            match last.map(serde_json::from_str::<serde_json::Value>) {
                Some(Ok(serde_json::Value::Object(m))) => m,
                _ => {
                    let why = match whole {
                        Ok(v) => format!("it is {}", json_type(&v)),
                        Err(e) => e.to_string(),
                    };
                    return Err(format!(
                        "stdout is not a JSON object, nor is its last line ({why}); {}",
                        excerpt(text)
                    ));
                }
            }
        }
    };
    Ok(wanted
        .iter()
        .map(|k| object.get(*k).cloned().map(Given::Json))
        .collect())
}

fn read_key_value(stdout: &[u8], wanted: &[&str]) -> Result<Vec<Option<Given>>, String> {
    let text = utf8(stdout)?;
    let mut out: Vec<Option<Given>> = vec![None; wanted.len()];
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let k = k.trim();
        if let Some(i) = wanted.iter().position(|w| *w == k) {
            if out[i].is_some() {
                return Err(format!("`{k}` is given twice on stdout"));
            }
            out[i] = Some(Given::Text(v.trim().to_string()));
        }
    }
    Ok(out)
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a bool",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// `given` as a value of result `name` of kind `kind`; the error names the
/// result, the kind and what was given.
pub fn convert(name: &str, kind: ResultKind, given: Given) -> Result<Parsed, String> {
    let wrong = |what: String| format!("result `{name}` ({kind}) got {what}");
    match given {
        Given::Json(v) => match (kind, v) {
            (ResultKind::Reference, v) => Ok(Parsed::Object(v)),
            (ResultKind::Float, serde_json::Value::Number(n)) => n
                .as_f64()
                .map(Parsed::Float)
                .ok_or_else(|| wrong(format!("the number {n}, which is not a float"))),
            (ResultKind::Bool, serde_json::Value::Bool(b)) => Ok(Parsed::Bool(b)),
            (ResultKind::Vec(n), serde_json::Value::Array(a)) => {
                if a.len() != n {
                    return Err(wrong(format!("an array of {} values", a.len())));
                }
                a.iter()
                    .map(|x| {
                        x.as_f64()
                            .ok_or_else(|| wrong(format!("an array holding {}", json_type(x))))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Parsed::Vec)
            }
            (ResultKind::String, serde_json::Value::String(s)) => Ok(Parsed::Text(s)),
            (k, serde_json::Value::String(s)) if k.names_file() => file(name, kind, s),
            (_, v) => Err(wrong(json_type(&v).to_string())),
        },
        Given::Text(t) => match kind {
            ResultKind::Reference => Ok(Parsed::Object(serde_json::Value::String(t))),
            ResultKind::Float => t
                .parse::<f64>()
                .map(Parsed::Float)
                .map_err(|_| wrong(format!("{t:?}, which is not a number"))),
            ResultKind::Bool => match t.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(Parsed::Bool(true)),
                "false" | "0" => Ok(Parsed::Bool(false)),
                _ => Err(wrong(format!("{t:?}, which is not true, false, 1 or 0"))),
            },
            ResultKind::Vec(n) => {
                let inner = t
                    .strip_prefix('[')
                    .and_then(|s| s.strip_suffix(']'))
                    .unwrap_or(&t);
                let xs = inner
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|s| !s.is_empty())
                    .map(|s| s.parse::<f64>().map_err(|_| s.to_string()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|bad| wrong(format!("{t:?}, where {bad:?} is not a number")))?;
                if xs.len() != n {
                    return Err(wrong(format!("{t:?}: {} values", xs.len())));
                }
                Ok(Parsed::Vec(xs))
            }
            ResultKind::String => Ok(Parsed::Text(t)),
            _ => file(name, kind, t),
        },
    }
}

fn file(name: &str, kind: ResultKind, s: String) -> Result<Parsed, String> {
    if s.trim().is_empty() {
        return Err(format!("result `{name}` ({kind}) got an empty file name"));
    }
    Ok(Parsed::File(s))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use proptest::prelude::*;

    fn json(s: &str) -> Given {
        Given::Json(serde_json::from_str(s).unwrap())
    }

    #[test]
    fn json_objects_and_a_last_line_after_logs() {
        let got = read_output(
            OutputFormat::Json,
            br#"{"time": 0.5, "n": 3, "extra": true}"#,
            &["time", "n", "missing"],
        )
        .unwrap();
        assert_eq!(got, vec![Some(json("0.5")), Some(json("3")), None]);
        let logged = b"starting\nwarming up\n{\"time\": 1}\n\n";
        let got = read_output(OutputFormat::Json, logged, &["time"]).unwrap();
        assert_eq!(got, vec![Some(json("1"))]);
    }

    #[test]
    fn bad_json_says_what_it_saw() {
        let e = read_output(OutputFormat::Json, b"hello\n", &["t"]).unwrap_err();
        assert!(
            e.contains("not a JSON object") && e.contains("\"hello\""),
            "{e}"
        );
        let e = read_output(OutputFormat::Json, b"[1, 2]", &["t"]).unwrap_err();
        assert!(e.contains("an array"), "{e}");
        let e = read_output(OutputFormat::Json, b"", &["t"]).unwrap_err();
        assert!(e.contains("stdout is empty"), "{e}");
        let e = read_output(OutputFormat::Json, b"\xff\xfe", &["t"]).unwrap_err();
        assert!(e.contains("UTF-8"), "{e}");
    }

    #[test]
    fn key_value_lines() {
        let out = b"progress 10%\n time = 0.25 \nplot=fig one.png\nother=3\n";
        let got = read_output(OutputFormat::KeyValue, out, &["time", "plot", "gone"]).unwrap();
        assert_eq!(
            got,
            vec![
                Some(Given::Text("0.25".into())),
                Some(Given::Text("fig one.png".into())),
                None
            ]
        );
        let e = read_output(OutputFormat::KeyValue, b"t=1\nt=2\n", &["t"]).unwrap_err();
        assert!(e.contains("twice"), "{e}");
        assert_eq!(
            read_output(OutputFormat::None, b"anything", &["wall_time"]).unwrap(),
            vec![None]
        );
    }

    #[test]
    fn conversions_check_the_kind() {
        let t = |s: &str| Given::Text(s.into());
        assert_eq!(
            convert("t", ResultKind::Float, json("2")),
            Ok(Parsed::Float(2.0))
        );
        assert_eq!(
            convert("t", ResultKind::Float, t("1e-3")),
            Ok(Parsed::Float(1e-3))
        );
        assert_eq!(
            convert("b", ResultKind::Bool, t("1")),
            Ok(Parsed::Bool(true))
        );
        assert_eq!(
            convert("v", ResultKind::Vec(3), t("[1, 2 3]")),
            Ok(Parsed::Vec(vec![1.0, 2.0, 3.0]))
        );
        assert_eq!(
            convert("v", ResultKind::Vec(2), json("[1, 2.5]")),
            Ok(Parsed::Vec(vec![1.0, 2.5]))
        );
        assert_eq!(
            convert("p", ResultKind::Image, json("\"a.png\"")),
            Ok(Parsed::File("a.png".into()))
        );
        assert_eq!(
            convert("r", ResultKind::Reference, json("{\"a\": 1}")),
            Ok(Parsed::Object(serde_json::json!({"a": 1})))
        );
        for (kind, given, needle) in [
            (ResultKind::Float, json("\"fast\""), "got a string"),
            (ResultKind::Float, t("fast"), "not a number"),
            (ResultKind::Bool, t("yes"), "not true, false"),
            (ResultKind::Vec(3), json("[1, 2]"), "an array of 2 values"),
            (ResultKind::Vec(2), json("[1, \"x\"]"), "holding a string"),
            (ResultKind::Vec(2), t("1,x"), "\"x\" is not a number"),
            (ResultKind::String, json("3"), "got a number"),
            (ResultKind::Image, json("\"\""), "empty file name"),
            (ResultKind::Path, json("null"), "got null"),
        ] {
            let e = convert("r", kind, given).unwrap_err();
            assert!(e.contains("result `r`") && e.contains(needle), "{e}");
        }
    }

    proptest! {
        /// Any float printed by Rust (or with `{:e}`) reads back bit for bit.
        #[test]
        fn floats_round_trip_through_key_value(x in proptest::num::f64::ANY, exp in any::<bool>()) {
            let line = if exp { format!("t={x:e}\n") } else { format!("t={x}\n") };
            let got = read_output(OutputFormat::KeyValue, line.as_bytes(), &["t"]).unwrap();
            let v = convert("t", ResultKind::Float, got[0].clone().unwrap()).unwrap();
            match v {
                Parsed::Float(y) => prop_assert!(y.to_bits() == x.to_bits() || (x.is_nan() && y.is_nan())),
                other => prop_assert!(false, "{other:?}"),
            }
        }

        /// Arbitrary bytes never panic: either values or an error.
        #[test]
        fn arbitrary_output_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            for f in [OutputFormat::Json, OutputFormat::KeyValue] {
                if let Ok(got) = read_output(f, &bytes, &["a", "b"]) {
                    for g in got.into_iter().flatten() {
                        let _ = convert("a", ResultKind::Vec(2), g.clone());
                        let _ = convert("a", ResultKind::Float, g);
                    }
                }
            }
        }
    }
}
