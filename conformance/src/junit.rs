//! JUnit XML for CI systems: one test suite, one test case per gate stage, a `<failure>` with
//! the divergence report when a stage diverges.

use std::fmt::Write;

#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub seconds: f64,
    /// Printed as the case's system-out: what was checked (states, transitions, seed).
    pub output: String,
    /// `Some(report)` when the stage failed.
    pub failure: Option<String>,
}

/// Characters XML 1.0 cannot carry are replaced; markup characters are escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

pub fn render(suite: &str, cases: &[Case]) -> String {
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let total: f64 = cases.iter().map(|c| c.seconds).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{0}\" tests=\"{1}\" failures=\"{2}\" errors=\"0\" time=\"{3:.3}\">",
        escape(suite),
        cases.len(),
        failures,
        total
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{0}\" tests=\"{1}\" failures=\"{2}\" errors=\"0\" skipped=\"0\" time=\"{3:.3}\">",
        escape(suite),
        cases.len(),
        failures,
        total
    );
    for case in cases {
        let _ = writeln!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
            escape(suite),
            escape(&case.name),
            case.seconds
        );
        if let Some(report) = &case.failure {
            let first = report.lines().next().unwrap_or("divergence");
            let _ = writeln!(
                out,
                "      <failure message=\"{}\" type=\"divergence\">{}</failure>",
                escape(first),
                escape(report)
            );
        }
        let _ = writeln!(
            out,
            "      <system-out>{}</system-out>",
            escape(&case.output)
        );
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
