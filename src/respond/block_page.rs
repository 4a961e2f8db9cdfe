//! The block page a user sees when the proxy refuses a plain HTTP request,
//! and its JSON twin for API clients.
//!
//! * [`Lang::negotiate`] (in `negotiate.rs`) picks Dutch, French, German or
//!   English from the `Accept-Language` request header (English is the fallback).
//! * [`html`] renders a small, self-contained HTML5 document: inline CSS, no
//!   external resources, no JavaScript.
//! * [`json`] renders the same facts as a fixed-shape JSON object.
//! * [`wants_json`](super::negotiate::wants_json) (in `negotiate.rs`) decides from the `Accept` header which of
//!   the two to send.
//!
//! Every string in [`BlockFacts`] is untrusted (it comes from configuration,
//! the policy registry or the request itself) and is escaped on output. The
//! header parsers never panic and look at no more than the first
//! 32 list elements of a header.
//!
//! Rendering is done with a single pre-sized `String` and `push_str`; there is
//! no `format!` on the hot path.

/// Language of a block page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Dutch (Belgian usage).
    Nl,
    /// French (Belgian usage).
    Fr,
    /// German.
    De,
    /// English, the fallback.
    En,
}

impl Lang {
    const ALL: [Lang; 4] = [Lang::Nl, Lang::Fr, Lang::De, Lang::En];

    /// The ISO 639-1 code, as used in `<html lang="..">`: `"nl"`, `"fr"`,
    /// `"de"` or `"en"`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Nl => "nl",
            Lang::Fr => "fr",
            Lang::De => "de",
            Lang::En => "en",
        }
    }

    /// The language with this ISO 639-1 code (`nl`, `fr`, `de`, `en`, any case).
    pub fn from_code(code: &str) -> Option<Lang> {
        Lang::from_primary_subtag(code)
    }

    pub(super) fn from_primary_subtag(primary: &str) -> Option<Lang> {
        Lang::ALL
            .into_iter()
            .find(|lang| primary.eq_ignore_ascii_case(lang.code()))
    }

    fn text(self) -> &'static Text {
        match self {
            Lang::Nl => &NL,
            Lang::Fr => &FR,
            Lang::De => &DE,
            Lang::En => &EN,
        }
    }
}

/// What a block page says. All strings are untrusted (they come from
/// config/registry/request) and must be escaped.
#[derive(Debug, Clone, Copy)]
pub struct BlockFacts<'a> {
    /// Identifier of the log event for this refusal.
    pub event_id: &'a str,
    /// `"blocked"` or `"refused"`.
    pub action: &'a str,
    /// The blocked destination host.
    pub host: &'a str,
    /// Identifier of the policy that caused the block.
    pub policy_id: &'a str,
    /// Human-readable title of that policy.
    pub policy_title: &'a str,
    /// Legal or administrative reference of the policy, e.g.
    /// "National Security Council decision, 2023-03-10".
    pub policy_reference: &'a str,
    /// Name of the ruleset that matched.
    pub ruleset: &'a str,
    /// Name of the rule that matched.
    pub rule: &'a str,
    /// Helpdesk contact from config.
    pub contact: &'a str,
}

/// Fixed wording of the page in one language. All fields are trusted HTML.
#[derive(Debug)]
struct Text {
    title: &'static str,
    funded: &'static str,
    access_to: &'static str,
    is_blocked: &'static str,
    policy_open: &'static str,
    policy_close: &'static str,
    sentence_end: &'static str,
    colon: &'static str,
    event_id: &'static str,
    quote_id: &'static str,
    helpdesk: &'static str,
    decision: &'static str,
    blocked: &'static str,
    refused: &'static str,
    policy: &'static str,
    rule: &'static str,
}

const EN: Text = Text {
    title: "Access blocked",
    funded: "This device is funded by your organisation.",
    access_to: "Access to ",
    is_blocked: " is blocked",
    policy_open: " under the policy \u{201c}",
    policy_close: "\u{201d}",
    sentence_end: ".",
    colon: ": ",
    event_id: "Event ID",
    quote_id: "Please quote this ID when you contact the helpdesk.",
    helpdesk: "Helpdesk",
    decision: "Decision",
    blocked: "blocked",
    refused: "refused",
    policy: "Policy",
    rule: "Rule",
};

const NL: Text = Text {
    title: "Toegang geblokkeerd",
    funded: "Dit toestel wordt gefinancierd door uw organisatie.",
    access_to: "De toegang tot ",
    is_blocked: " is geblokkeerd",
    policy_open: " op grond van het beleid \u{201c}",
    policy_close: "\u{201d}",
    sentence_end: ".",
    colon: ": ",
    event_id: "Gebeurtenis-ID",
    quote_id: "Vermeld deze code als u contact opneemt met de helpdesk.",
    helpdesk: "Helpdesk",
    decision: "Beslissing",
    blocked: "geblokkeerd",
    refused: "geweigerd",
    policy: "Beleid",
    rule: "Regel",
};

const FR: Text = Text {
    title: "Accès bloqué",
    funded: "Cet appareil est financé par votre organisation.",
    access_to: "L'accès à ",
    is_blocked: " est bloqué",
    policy_open: " en vertu de la politique «&nbsp;",
    policy_close: "&nbsp;»",
    sentence_end: ".",
    colon: "&nbsp;: ",
    event_id: "Identifiant de l'événement",
    quote_id: "Veuillez mentionner cet identifiant lorsque vous contactez le helpdesk.",
    helpdesk: "Helpdesk",
    decision: "Décision",
    blocked: "blocage",
    refused: "refus",
    policy: "Politique",
    rule: "Règle",
};

const DE: Text = Text {
    title: "Zugriff gesperrt",
    funded: "Dieses Gerät wird von Ihrer Organisation finanziert.",
    access_to: "Der Zugriff auf ",
    is_blocked: " ist",
    policy_open: " gemäß der Richtlinie \u{201e}",
    policy_close: "\u{201c}",
    sentence_end: " gesperrt.",
    colon: ": ",
    event_id: "Ereignis-ID",
    quote_id: "Bitte geben Sie diese ID an, wenn Sie sich an den Helpdesk wenden.",
    helpdesk: "Helpdesk",
    decision: "Entscheidung",
    blocked: "gesperrt",
    refused: "abgelehnt",
    policy: "Richtlinie",
    rule: "Regel",
};

const CSS: &str = "body{margin:0;padding:1rem;font:16px/1.5 system-ui,sans-serif;\
background:#f3f4f6;color:#111}\
main{max-width:36rem;margin:2rem auto;padding:1.25rem 1.5rem;background:#fff;\
border-top:6px solid #b91c1c;border-radius:6px}\
h1{margin:0 0 1rem;font-size:1.5rem;color:#b91c1c}\
p{overflow-wrap:anywhere}\
code{padding:0 .25rem;background:#eee;border-radius:3px;\
font:.95em ui-monospace,monospace}\
small{color:#555}";

/// Size of the fixed part of the page (markup, CSS and the longest wording),
/// with some headroom, so typical pages render without reallocating.
const HTML_FIXED_CAPACITY: usize = 1280;

fn html_capacity(facts: &BlockFacts<'_>) -> usize {
    let variable = facts.event_id.len()
        + facts.action.len()
        + facts.host.len()
        + facts.policy_id.len()
        + facts.policy_title.len()
        + facts.policy_reference.len()
        + facts.ruleset.len()
        + facts.rule.len()
        + facts.contact.len();
    // Headroom for a modest amount of escaping.
    HTML_FIXED_CAPACITY + variable + variable / 4
}

/// A complete HTML5 document (UTF-8, `<html lang="..">`) in the given
/// language.
pub fn html(lang: Lang, facts: &BlockFacts<'_>) -> String {
    let t = lang.text();
    let mut out = String::with_capacity(html_capacity(facts));
    push_page_start(&mut out, lang, t.title, "");

    // Why: device funding, host, policy and its reference.
    out.push_str("<p>");
    out.push_str(t.funded);
    out.push(' ');
    out.push_str(t.access_to);
    out.push_str("<strong>");
    push_html(&mut out, facts.host);
    out.push_str("</strong>");
    out.push_str(t.is_blocked);
    push_policy(&mut out, facts, t.policy_open, t.policy_close);
    out.push_str(t.sentence_end);
    out.push_str("</p>\n");

    // Event ID and what to do with it.
    out.push_str("<p>");
    out.push_str(t.event_id);
    out.push_str(t.colon);
    out.push_str("<code>");
    push_html(&mut out, facts.event_id);
    out.push_str("</code></p>\n<p>");
    out.push_str(t.quote_id);
    out.push_str("</p>\n");

    if !facts.contact.is_empty() {
        out.push_str("<p>");
        out.push_str(t.helpdesk);
        out.push_str(t.colon);
        out.push_str("<strong>");
        push_html(&mut out, facts.contact);
        out.push_str("</strong></p>\n");
    }

    // Technical details for the helpdesk.
    out.push_str("<p><small>");
    let mut first = true;
    if !facts.action.is_empty() {
        push_detail_label(&mut out, &mut first, t, t.decision);
        match facts.action {
            "blocked" => out.push_str(t.blocked),
            "refused" => out.push_str(t.refused),
            other => push_html(&mut out, other),
        }
    }
    if !facts.policy_id.is_empty() {
        push_detail_label(&mut out, &mut first, t, t.policy);
        push_html(&mut out, facts.policy_id);
    }
    if !facts.ruleset.is_empty() || !facts.rule.is_empty() {
        push_detail_label(&mut out, &mut first, t, t.rule);
        push_html(&mut out, facts.ruleset);
        if !facts.ruleset.is_empty() && !facts.rule.is_empty() {
            out.push('/');
        }
        push_html(&mut out, facts.rule);
    }
    out.push_str("</small></p>\n</main>\n</body>\n</html>\n");
    out
}

/// The start of a page of this family, up to and including its `<h1>`: language,
/// title, the inline style (and `extra_css` after it).
pub(super) fn push_page_start(out: &mut String, lang: Lang, title: &str, extra_css: &str) {
    push_document_start(out, lang, title, &[CSS, extra_css]);
}

/// The start of a self-contained HTML5 page, up to and including its `<h1>`:
/// language, trusted `title`, and the inline `styles`, in order.
pub(crate) fn push_document_start(out: &mut String, lang: Lang, title: &str, styles: &[&str]) {
    out.push_str("<!DOCTYPE html>\n<html lang=\"");
    out.push_str(lang.code());
    out.push_str(
        "\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<title>",
    );
    out.push_str(title);
    out.push_str("</title>\n<style>");
    for css in styles {
        out.push_str(css);
    }
    out.push_str("</style>\n</head>\n<body>\n<main>\n<h1>");
    out.push_str(title);
    out.push_str("</h1>\n");
}

/// ` under the policy “TITLE” (REFERENCE)`, in the wording `open` / `close` of a
/// language; the policy id stands in for a missing title.
pub(super) fn push_policy(out: &mut String, facts: &BlockFacts<'_>, open: &str, close: &str) {
    let policy_name = if facts.policy_title.is_empty() {
        facts.policy_id
    } else {
        facts.policy_title
    };
    if !policy_name.is_empty() {
        out.push_str(open);
        push_html(out, policy_name);
        out.push_str(close);
    }
    if !facts.policy_reference.is_empty() {
        out.push_str(" (");
        push_html(out, facts.policy_reference);
        out.push(')');
    }
}

fn push_detail_label(out: &mut String, first: &mut bool, t: &Text, label: &str) {
    if !*first {
        out.push_str(" \u{b7} ");
    }
    *first = false;
    out.push_str(label);
    out.push_str(t.colon);
}

/// Exactly this JSON object (keys in this order, no extra keys):
/// `{"event_id":..,"action":..,"host":..,"policy":{"id":..,"title":..,"reference":..},"ruleset":..,"rule":..,"contact":..}`
pub fn json(facts: &BlockFacts<'_>) -> String {
    let variable = facts.event_id.len()
        + facts.action.len()
        + facts.host.len()
        + facts.policy_id.len()
        + facts.policy_title.len()
        + facts.policy_reference.len()
        + facts.ruleset.len()
        + facts.rule.len()
        + facts.contact.len();
    let mut out = String::with_capacity(160 + variable + variable / 8);
    out.push_str("{\"event_id\":");
    push_json_string(&mut out, facts.event_id);
    out.push_str(",\"action\":");
    push_json_string(&mut out, facts.action);
    out.push_str(",\"host\":");
    push_json_string(&mut out, facts.host);
    out.push_str(",\"policy\":{\"id\":");
    push_json_string(&mut out, facts.policy_id);
    out.push_str(",\"title\":");
    push_json_string(&mut out, facts.policy_title);
    out.push_str(",\"reference\":");
    push_json_string(&mut out, facts.policy_reference);
    out.push_str("},\"ruleset\":");
    push_json_string(&mut out, facts.ruleset);
    out.push_str(",\"rule\":");
    push_json_string(&mut out, facts.rule);
    out.push_str(",\"contact\":");
    push_json_string(&mut out, facts.contact);
    out.push('}');
    out
}

/// Unicode bidirectional formatting characters. Rendered literally they could
/// make a host name display as something else, so they are replaced.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

/// Appends `s` escaped for HTML text and attribute values. `&`, `<`, `>`,
/// `"` and `'` become character references; control characters (C0, DEL,
/// C1) and bidi formatting characters become U+FFFD, since numeric
/// references to them are parse errors or get remapped by browsers.
pub(crate) fn push_html(out: &mut String, s: &str) {
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let replacement = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\'' => "&#39;",
            c if c.is_control() || is_bidi_control(c) => "&#xFFFD;",
            _ => continue,
        };
        out.push_str(s.get(start..i).unwrap_or_default());
        out.push_str(replacement);
        start = i + c.len_utf8();
    }
    out.push_str(s.get(start..).unwrap_or_default());
}

/// Appends `s` as a JSON string literal (RFC 8259 §7), quotes included.
/// `"` and `\` are escaped, control characters below U+0020 use the short
/// forms where they exist and `\u00XX` otherwise; U+2028 and U+2029 are also
/// escaped so the output is safe to embed in JavaScript.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let short = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            c if c < '\u{20}' || c == '\u{2028}' || c == '\u{2029}' => "",
            _ => continue,
        };
        out.push_str(s.get(start..i).unwrap_or_default());
        if short.is_empty() {
            push_unicode_escape(out, u32::from(c));
        } else {
            out.push_str(short);
        }
        start = i + c.len_utf8();
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push('"');
}

/// Appends `\uXXXX` for a code point in the Basic Multilingual Plane.
fn push_unicode_escape(out: &mut String, code_point: u32) {
    out.push_str("\\u");
    for shift in [12, 8, 4, 0] {
        let nibble = (code_point >> shift) & 0xf;
        out.push(char::from_digit(nibble, 16).unwrap_or('0'));
    }
}

#[cfg(test)]
mod tests;
