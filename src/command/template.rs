//! `{name}` placeholders in a command's arguments and environment, and the
//! `RC_<NAME>` environment variable of each input and constant.

use collector_core::Sweep;

/// What a placeholder stands for in one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Var {
    /// Input `i` of the sweep (its value in the job).
    Input(usize),
    /// Constant `i` of the sweep.
    Const(usize),
    /// The repeat number, 1-based.
    Repeat,
    /// The job's media folder (`RC_JOB_DIR`).
    JobDir,
}

/// The placeholder name `{repeat}`.
pub(crate) const REPEAT: &str = collector_core::REPEAT_DIM;
/// The placeholder name `{job_dir}`.
pub(crate) const JOB_DIR: &str = "job_dir";

/// The names a placeholder may use in `sweep`: its inputs, its constants,
/// `repeat` and `job_dir`, each with what it stands for.
pub(crate) fn template_vars(sweep: &Sweep) -> Vec<(String, Var)> {
    let mut v: Vec<(String, Var)> = sweep
        .inputs()
        .iter()
        .enumerate()
        .map(|(i, x)| (x.var.name().to_string(), Var::Input(i)))
        .collect();
    v.extend(
        sweep
            .constants()
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), Var::Const(i))),
    );
    // An input named `job_dir` shadows the folder in placeholders; its
    // RC_ name collides with RC_JOB_DIR, which `env_vars` refuses.
    if !v.iter().any(|(n, _)| n == JOB_DIR) {
        v.push((JOB_DIR.to_string(), Var::JobDir));
    }
    v.push((REPEAT.to_string(), Var::Repeat));
    v
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Var(Var),
}

/// A text with `{name}` placeholders; `{{` and `}}` are literal braces.
///
/// ```
/// use result_collector::command::Template;
/// let t = Template::parse_names("--size={size} {{x}}", &["size"]).unwrap();
/// assert_eq!(t.render_with(&["10"]), "--size=10 {x}");
/// assert!(Template::parse_names("{nope}", &["size"]).unwrap_err().contains("`{nope}`"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `text` against the placeholder names `vars`; the error names
    /// the unknown placeholder and the known ones.
    pub(crate) fn parse(text: &str, vars: &[(String, Var)]) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|&(_, c)| c) == Some('{') => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek().map(|&(_, c)| c) == Some('}') => {
                    chars.next();
                    lit.push('}');
                }
                '{' => {
                    let rest = &text[i + 1..];
                    let Some(end) = rest.find('}') else {
                        return Err(format!(
                            "the `{{` in `{}` opens a placeholder that is never closed \
                             (write `{{{{` for a literal brace)",
                            around(text, i)
                        ));
                    };
                    let name = &rest[..end];
                    let Some((_, var)) = vars.iter().find(|(n, _)| n == name) else {
                        let known: Vec<String> =
                            vars.iter().map(|(n, _)| format!("{{{n}}}")).collect();
                        let what = if is_name(name) {
                            format!("placeholder `{{{name}}}` names no input or constant")
                        } else {
                            format!(
                                "the `{{` in `{}` opens a placeholder, but what follows is not a name",
                                around(text, i)
                            )
                        };
                        return Err(format!(
                            "{what} (known: {}; write `{{{{` and `}}}}` for literal braces)",
                            known.join(", ")
                        ));
                    };
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Var(*var));
                    // Skip the name and the closing brace.
                    for _ in 0..name.chars().count() + 1 {
                        chars.next();
                    }
                }
                c => lit.push(c),
            }
        }
        if !lit.is_empty() || parts.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template { parts })
    }

    /// Parses `text` against the input names `names` (placeholder `k`
    /// stands for `names[k]`): the form [`render_with`](Self::render_with)
    /// fills, for tests and tools.
    pub fn parse_names(text: &str, names: &[&str]) -> Result<Template, String> {
        let vars: Vec<(String, Var)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| ((*n).to_string(), Var::Input(i)))
            .collect();
        Self::parse(text, &vars)
    }

    /// The text with input placeholder `k` replaced by `values[k]` (other
    /// placeholders by nothing).
    pub fn render_with(&self, values: &[&str]) -> String {
        self.render(
            |v| match v {
                Var::Input(i) => values.get(i).copied().unwrap_or_default(),
                _ => "",
            },
            false,
        )
    }

    /// The text when it has no placeholder.
    pub fn literal(&self) -> Option<String> {
        match self.parts.as_slice() {
            [Part::Lit(s)] => Some(s.clone()),
            _ => None,
        }
    }

    /// The text with each placeholder replaced by `value(var)`, quoted for
    /// `sh` when `quote` is set.
    pub(crate) fn render<'v>(&self, value: impl Fn(Var) -> &'v str, quote: bool) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Var(v) if quote => out.push_str(&sh_quote(value(*v))),
                Part::Var(v) => out.push_str(value(*v)),
            }
        }
        out
    }
}

/// Whether `s` looks like a name (so a `{s}` was meant as a placeholder).
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The text around byte `at` of `text` (on its line, a few characters
/// either side), for a message.
fn around(text: &str, at: usize) -> String {
    const SIDE: usize = 20;
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let before: Vec<char> = text[line_start..at].chars().collect();
    let after: Vec<char> = text[at..line_end].chars().collect();
    let mut s = String::new();
    if before.len() > SIDE {
        s.push('…');
    }
    s.extend(&before[before.len().saturating_sub(SIDE)..]);
    s.extend(after.iter().take(SIDE));
    if after.len() > SIDE {
        s.push('…');
    }
    s
}

/// `s` as one `sh` word: in single quotes, a `'` written as `'\''`.
pub(crate) fn sh_quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('\'');
    for c in s.chars() {
        if c == '\'' {
            q.push_str("'\\''");
        } else {
            q.push(c);
        }
    }
    q.push('\'');
    q
}

/// The environment variable of input or constant `name`: `RC_` then the
/// name with ASCII letters upper-cased and every character other than an
/// ASCII letter, digit or `_` written as `_` (`chunk-size` ->
/// `RC_CHUNK_SIZE`, `größe` -> `RC_GR__E`).
///
/// ```
/// assert_eq!(result_collector::command::env_name("chunk-size"), "RC_CHUNK_SIZE");
/// assert_eq!(result_collector::command::env_name("x.y2"), "RC_X_Y2");
/// ```
pub fn env_name(name: &str) -> String {
    let mut s = String::with_capacity(name.len() + 3);
    s.push_str("RC_");
    s.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
    s
}

/// The `RC_` variables of every job of `sweep`: each input and constant,
/// `RC_REPEAT` and `RC_JOB_DIR`. Two names that give one variable are an
/// error naming both.
pub(crate) fn env_vars(sweep: &Sweep) -> Result<Vec<(String, Var)>, String> {
    let mut out: Vec<(String, Var, String)> = vec![
        (env_name(REPEAT), Var::Repeat, "the repeat number".into()),
        (
            env_name(JOB_DIR),
            Var::JobDir,
            "the job's media folder".into(),
        ),
    ];
    let named = sweep
        .inputs()
        .iter()
        .enumerate()
        .map(|(i, x)| (x.var.name().to_string(), Var::Input(i), "input"))
        .chain(
            sweep
                .constants()
                .iter()
                .enumerate()
                .map(|(i, c)| (c.name.clone(), Var::Const(i), "constant")),
        );
    for (name, var, role) in named {
        let env = env_name(&name);
        if let Some((_, _, other)) = out.iter().find(|(e, _, _)| *e == env) {
            return Err(format!(
                "{role} `{name}` and {other} both give the environment variable {env}; rename one"
            ));
        }
        out.push((env, var, format!("{role} `{name}`")));
    }
    Ok(out.into_iter().map(|(e, v, _)| (e, v)).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use proptest::prelude::*;

    fn vars() -> Vec<(String, Var)> {
        vec![
            ("size".into(), Var::Input(0)),
            ("algo".into(), Var::Input(1)),
            ("mode".into(), Var::Const(0)),
            ("repeat".into(), Var::Repeat),
            ("job_dir".into(), Var::JobDir),
        ]
    }

    fn show(v: Var) -> &'static str {
        match v {
            Var::Input(0) => "10",
            Var::Input(_) => "it's",
            Var::Const(_) => "fast",
            Var::Repeat => "2",
            Var::JobDir => "/tmp/j",
        }
    }

    #[test]
    fn placeholders_render_and_braces_escape() {
        let t = Template::parse("--size={size}/{algo}{{}}{repeat}", &vars()).unwrap();
        assert_eq!(t.render(show, false), "--size=10/it's{}2");
        assert_eq!(t.render(show, true), "--size='10'/'it'\\''s'{}'2'");
        let lit = Template::parse("plain }", &vars()).unwrap();
        assert_eq!(lit.literal().as_deref(), Some("plain }"));
        assert_eq!(
            Template::parse("", &vars()).unwrap().literal().as_deref(),
            Some("")
        );
        assert_eq!(Template::parse("{size}", &vars()).unwrap().literal(), None);
    }

    #[test]
    fn unknown_and_unclosed_placeholders_are_errors() {
        let e = Template::parse("echo ${HOME}", &vars()).unwrap_err();
        assert!(
            e.contains("`{HOME}`") && e.contains("{size}") && e.contains("{{"),
            "{e}"
        );
        let e = Template::parse("a {size", &vars()).unwrap_err();
        assert!(e.contains("never closed"), "{e}");
    }

    #[test]
    fn env_names_are_sanitised_and_collisions_refused() {
        assert_eq!(env_name("a"), "RC_A");
        assert_eq!(env_name("chunk-size"), "RC_CHUNK_SIZE");
        assert_eq!(env_name("größe"), "RC_GR__E");
        let s = Sweep::builder("s")
            .input(collector_core::InputVar::int_values("chunk-size", [1]))
            .input(collector_core::InputVar::int_values("chunk_size", [1]))
            .result(collector_core::ResultVar::float("t"))
            .build()
            .unwrap();
        let e = env_vars(&s).unwrap_err();
        assert!(
            e.contains("RC_CHUNK_SIZE") && e.contains("`chunk-size`"),
            "{e}"
        );
        let s = Sweep::builder("s")
            .input(collector_core::InputVar::int_values("job_dir", [1]))
            .result(collector_core::ResultVar::float("t"))
            .build()
            .unwrap();
        assert!(env_vars(&s).unwrap_err().contains("RC_JOB_DIR"));
    }

    proptest! {
        #[test]
        fn env_names_are_valid_shell_names(name in "\\PC{1,20}") {
            let e = env_name(&name);
            prop_assert!(e.starts_with("RC_"));
            prop_assert!(e.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'));
            prop_assert_eq!(e.len(), 3 + name.chars().count());
        }

        /// Text without braces is its own literal; doubling every brace
        /// gives back the text.
        #[test]
        fn escaped_braces_round_trip(text in "[a-z{} $=-]{0,30}") {
            let escaped = text.replace('{', "{{").replace('}', "}}");
            let t = Template::parse(&escaped, &vars()).unwrap();
            prop_assert_eq!(t.render(show, false), text);
        }

        /// A quoted value is one sh word that `sh` reads back unchanged.
        #[test]
        fn sh_quoting_is_one_word(s in "\\PC{0,20}") {
            let q = sh_quote(&s);
            prop_assert!(q.starts_with('\'') && q.ends_with('\''));
            // Unquoting: every '\'' is a quote ended, an escaped quote, a quote begun.
            let inner = &q[1..q.len() - 1];
            prop_assert_eq!(inner.replace("'\\''", "'"), s);
        }
    }
}
