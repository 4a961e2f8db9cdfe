//! The helpdesk page: one self-contained HTML5 document (inline CSS, no script, no
//! external resource) with one input box, the answer's sentence on top and the facts
//! below. Everything that is not fixed wording is escaped.

use super::answer::{Answer, Outcome};
use super::text::Text;
use crate::respond::block_page::{push_document_start, push_html};
use crate::respond::Lang;

/// `Content-Security-Policy` of the page: nothing but its own inline style, and
/// forms that submit to itself.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";

const CSS: &str = "body{margin:0;padding:1rem;font:16px/1.5 system-ui,sans-serif;background:#f3f4f6;color:#111}\
main{max-width:46rem;margin:1.5rem auto;padding:1.25rem 1.5rem;background:#fff;border-top:6px solid #1d4ed8;border-radius:6px}\
h1{margin:0 0 1rem;font-size:1.4rem;color:#1d4ed8}h2{font-size:1.05rem;margin:1.5rem 0 .5rem}\
label{display:block;font-weight:600;margin-bottom:.25rem}\
.row{display:flex;gap:.5rem}.row input{flex:1;min-width:0;font:1.05rem ui-monospace,monospace;padding:.5rem;border:1px solid #888;border-radius:4px}\
button{font:inherit;padding:.5rem 1rem;border:0;border-radius:4px;background:#1d4ed8;color:#fff;cursor:pointer}\
details{margin-top:.5rem;color:#444}details input{font:inherit;margin-top:.25rem}\
.answer{font-size:1.15rem;font-weight:600;padding:.75rem 1rem;border-left:6px solid #6b7280;background:#f9fafb;overflow-wrap:anywhere}\
.blocked,.refused{border-color:#b91c1c;background:#fef2f2}.warned,.reported{border-color:#b45309;background:#fffbeb}\
.allowed{border-color:#15803d;background:#f0fdf4}.failed{border-color:#6b7280}\
.notice{color:#92400e}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0}dt{color:#555}dd{margin:0;overflow-wrap:anywhere}\
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.25rem .4rem;border-bottom:1px solid #ddd}\
th{white-space:nowrap}td{overflow-wrap:anywhere}\
tr.decides{font-weight:600;background:#eff6ff}";

/// What the agent typed, echoed into the form.
#[derive(Debug, Default)]
pub struct Asked<'a> {
    pub q: &'a str,
    pub at: &'a str,
}

/// The page in `lang`, with `answer` below the form when there is one.
pub fn html(lang: Lang, asked: &Asked<'_>, answer: Option<&Answer>) -> String {
    let t = Text::of(lang);
    let l = &t.labels;
    let mut out = String::with_capacity(8192);
    push_document_start(&mut out, lang, l.title, &[CSS]);
    out.push_str("<form method=\"get\" action=\"/helpdesk\" role=\"search\">\n<label for=\"q\">");
    out.push_str(l.prompt);
    out.push_str("</label>\n<div class=\"row\"><input id=\"q\" name=\"q\" value=\"");
    push_html(&mut out, asked.q);
    out.push_str("\" placeholder=\"");
    out.push_str(l.placeholder);
    out.push_str("\" autofocus autocomplete=\"off\" spellcheck=\"false\" maxlength=\"600\"><button type=\"submit\">");
    out.push_str(l.button);
    out.push_str("</button></div>\n<details");
    if !asked.at.is_empty() {
        out.push_str(" open");
    }
    out.push_str("><summary>");
    out.push_str(l.at_other_time);
    out.push_str("</summary><input type=\"datetime-local\" name=\"at\" step=\"1\" value=\"");
    push_html(&mut out, asked.at);
    out.push_str("\"></details>\n<input type=\"hidden\" name=\"lang\" value=\"");
    out.push_str(lang.code());
    out.push_str("\">\n</form>\n");
    if let Some(a) = answer {
        push_answer(&mut out, t, a);
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn push_answer(out: &mut String, t: &Text, a: &Answer) {
    let l = &t.labels;
    out.push_str("<p class=\"answer ");
    out.push_str(a.outcome.as_str());
    out.push_str("\" role=\"status\" id=\"answer\">");
    push_html(out, &a.sentence);
    out.push_str("</p>\n");
    if let Some(notice) = a.notice {
        out.push_str("<p class=\"notice\">");
        out.push_str(notice);
        out.push_str("</p>\n");
    }
    if a.outcome == Outcome::Unanswered {
        return;
    }
    out.push_str("<h2>");
    out.push_str(l.details);
    out.push_str("</h2>\n<dl>\n");
    for (label, value) in &a.facts {
        out.push_str("<dt>");
        out.push_str(label);
        out.push_str("</dt><dd>");
        push_html(out, value);
        out.push_str("</dd>\n");
    }
    out.push_str("</dl>\n");
    if a.trace.is_empty() {
        return;
    }
    out.push_str("<h2>");
    out.push_str(l.every_policy);
    out.push_str("</h2>\n<table>\n<thead><tr>");
    for h in [l.policy, l.window, l.applies, l.rule, l.action, l.decides] {
        out.push_str("<th>");
        out.push_str(h);
        out.push_str("</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    let yes_no = |b: bool| if b { l.yes } else { l.no };
    for row in &a.trace {
        out.push_str(if row.decides { "<tr class=\"decides\">" } else { "<tr>" });
        for cell in [
            row.policy.as_str(),
            &row.window.replace('_', " "),
            yes_no(row.applies),
            &row.rule,
            row.action,
            yes_no(row.decides),
        ] {
            out.push_str("<td>");
            push_html(out, cell);
            out.push_str("</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}
