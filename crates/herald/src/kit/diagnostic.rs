//! Configuration problems with their place in the file, reported all at once.

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in a configuration file. Messages name secrets, never their values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    /// Byte range in the file; `None` for problems not tied to one place.
    pub span: Option<Range<usize>>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(span: impl Into<Option<Range<usize>>>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span: span.into(),
            help: None,
        }
    }

    pub fn warning(span: impl Into<Option<Range<usize>>>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(span, message)
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// Collects diagnostics while a configuration is checked, so one run reports every problem.
#[derive(Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    pub fn error(&mut self, span: impl Into<Option<Range<usize>>>, message: impl Into<String>) {
        self.push(Diagnostic::error(span, message));
    }

    /// Keep the value of a check, recording its error.
    pub fn take<T>(&mut self, result: Result<T, Diagnostic>) -> Option<T> {
        result.map_err(|diagnostic| self.push(diagnostic)).ok()
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.items
    }
}

/// A configuration file and what is wrong or doubtful in it.
#[derive(Clone)]
pub struct Report {
    pub path: PathBuf,
    pub text: Arc<str>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }

    /// `path:line:column` of a diagnostic (1-based), or just the path.
    pub fn location(&self, diagnostic: &Diagnostic) -> String {
        match &diagnostic.span {
            Some(span) => {
                let (line, column) = line_column(&self.text, span.start);
                format!("{}:{line}:{column}", self.path.display())
            }
            None => self.path.display().to_string(),
        }
    }

    /// One `path:line:col: severity: message` line per diagnostic (for scripts and logs).
    pub fn short(&self) -> String {
        self.diagnostics
            .iter()
            .map(|d| {
                format!(
                    "{}: {}: {}\n",
                    self.location(d),
                    severity_word(d),
                    d.message
                )
            })
            .collect()
    }

    /// For people: each problem once — its short line, then the place in the file and the
    /// help, without saying the message again.
    pub fn render(&self, color: bool) -> String {
        let theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let handler = GraphicalReportHandler::new_themed(theme);
        let mut out = String::new();
        for diagnostic in &self.diagnostics {
            out.push_str(&format!(
                "{}: {}: {}\n",
                self.location(diagnostic),
                severity_word(diagnostic),
                diagnostic.message
            ));
            let report = self.snippet(diagnostic);
            let mut rendered = String::new();
            let snippet = match (
                &diagnostic.span,
                handler.render_report(&mut rendered, report.as_ref()),
            ) {
                // miette's own first lines repeat the message: the box starts after them.
                (Some(_), Ok(())) => rendered
                    .lines()
                    .skip_while(|line| !line.contains('╭'))
                    .map(|line| format!("{line}\n"))
                    .collect(),
                _ => String::new(),
            };
            if snippet.is_empty() {
                if let Some(help) = &diagnostic.help {
                    out.push_str(&format!("  help: {help}\n"));
                }
            } else {
                out.push_str(&snippet);
            }
            out.push('\n');
        }
        out
    }

    fn snippet(&self, diagnostic: &Diagnostic) -> Box<dyn miette::Diagnostic + Send + Sync> {
        let mut miette = MietteDiagnostic::new(diagnostic.message.clone()).with_severity(
            match diagnostic.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
            },
        );
        if let Some(span) = &diagnostic.span {
            miette = miette.with_label(LabeledSpan::at(span.clone(), "here"));
        }
        if let Some(help) = &diagnostic.help {
            miette = miette.with_help(help.clone());
        }
        let source = NamedSource::new(self.path.display().to_string(), self.text.to_string());
        miette::Report::new(miette).with_source_code(source).into()
    }
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short().trim_end())
    }
}

impl std::error::Error for Report {}

fn severity_word(diagnostic: &Diagnostic) -> &'static str {
    match diagnostic.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// A report about a file that could not even be read.
pub fn unreadable(path: &Path, error: &std::io::Error) -> Report {
    Report {
        path: path.to_path_buf(),
        text: Arc::from(""),
        diagnostics: vec![Diagnostic::error(
            None,
            format!("cannot read the file: {error}"),
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_from_one_in_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        // "é" is two bytes: the byte after it is the third character.
        assert_eq!(line_column(text, 9), (2, 3));
    }

    #[test]
    fn short_lines_carry_path_line_and_column() {
        let report = Report {
            path: PathBuf::from("herald.toml"),
            text: Arc::from("[server]\nlisten = 1\n"),
            diagnostics: vec![Diagnostic::error(18..19, "listen must be a string")],
        };
        assert_eq!(
            report.short(),
            "herald.toml:2:10: error: listen must be a string\n"
        );
        assert!(report.render(false).contains("listen must be a string"));
    }

    #[test]
    fn each_problem_is_rendered_once_with_its_place_and_help() {
        let report = Report {
            path: PathBuf::from("herald.toml"),
            text: Arc::from("[server]\nlisten = 1\n"),
            diagnostics: vec![
                Diagnostic::error(18..19, "listen must be a string").with_help("quote it"),
                Diagnostic::warning(None, "nothing to do").with_help("add a rule"),
            ],
        };
        for color in [false, true] {
            let shown = report.render(color);
            assert_eq!(
                shown.matches("listen must be a string").count(),
                1,
                "{shown}"
            );
            assert_eq!(shown.matches("nothing to do").count(), 1, "{shown}");
            assert!(
                shown.starts_with("herald.toml:2:10: error: listen must be a string\n"),
                "{shown}"
            );
            for part in ["listen = 1", "here", "quote it", "add a rule"] {
                assert!(shown.contains(part), "{part} in {shown}");
            }
        }
    }
}
