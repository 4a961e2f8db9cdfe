//! The advice page (SPEC §7): what a person on a device whose policy says `warn` sees
//! over an intercepted TLS connection, until the device acknowledges it. Same family as
//! the block page (language, policy and reference, event id, contact; inline CSS, no
//! script, every value escaped), with a "continue" form that posts a one-time token to
//! [`CONTINUE_PATH`] on the same host.

use super::block_page::{push_html, push_page_start, push_policy, BlockFacts, Lang};

/// Where the "continue" form posts (same origin: `form-action 'self'`).
pub const CONTINUE_PATH: &str = "/.well-known/slagboom/continue";

/// Fixed wording in one language. All fields are trusted HTML.
#[derive(Debug)]
struct Text {
    title: &'static str,
    advises_open: &'static str,
    advises_close: &'static str,
    policy_open: &'static str,
    policy_close: &'static str,
    recorded: &'static str,
    event_id: &'static str,
    colon: &'static str,
    button: &'static str,
    helpdesk: &'static str,
}

const EN: Text = Text {
    title: "Advice: think before you continue",
    advises_open: "Your organisation advises against using ",
    advises_close: " on devices used for work",
    policy_open: ", under the policy \u{201c}",
    policy_close: "\u{201d}",
    recorded: "You may continue. This visit is recorded; you will not see this advice again today.",
    event_id: "Event ID",
    colon: ": ",
    button: "Continue to ",
    helpdesk: "Questions? Helpdesk",
};

const NL: Text = Text {
    title: "Advies: denk na voor u verdergaat",
    advises_open: "Uw organisatie raadt het gebruik van ",
    advises_close: " af op toestellen die voor het werk worden gebruikt",
    policy_open: ", op grond van het beleid \u{201c}",
    policy_close: "\u{201d}",
    recorded: "U mag verdergaan. Dit bezoek wordt geregistreerd; u ziet dit advies vandaag niet meer.",
    event_id: "Gebeurtenis-ID",
    colon: ": ",
    button: "Verder naar ",
    helpdesk: "Vragen? Helpdesk",
};

const FR: Text = Text {
    title: "Conseil\u{a0}: réfléchissez avant de continuer",
    advises_open: "Votre organisation déconseille l'utilisation de ",
    advises_close: " sur les appareils utilisés à des fins professionnelles",
    policy_open: ", en vertu de la politique «&nbsp;",
    policy_close: "&nbsp;»",
    recorded: "Vous pouvez continuer. Cette visite est enregistrée\u{a0}; vous ne verrez plus ce conseil aujourd'hui.",
    event_id: "Identifiant de l'événement",
    colon: "&nbsp;: ",
    button: "Continuer vers ",
    helpdesk: "Des questions\u{a0}? Helpdesk",
};

const DE: Text = Text {
    title: "Hinweis: Bitte überlegen Sie, bevor Sie fortfahren",
    advises_open: "Ihre Organisation rät von der Nutzung von ",
    advises_close: " auf dienstlich genutzten Geräten ab",
    policy_open: ", gemäß der Richtlinie \u{201e}",
    policy_close: "\u{201c}",
    recorded: "Sie können fortfahren. Dieser Besuch wird protokolliert; Sie sehen diesen Hinweis heute nicht mehr.",
    event_id: "Ereignis-ID",
    colon: ": ",
    button: "Weiter zu ",
    helpdesk: "Fragen? Helpdesk",
};

fn text(lang: Lang) -> &'static Text {
    match lang {
        Lang::Nl => &NL,
        Lang::Fr => &FR,
        Lang::De => &DE,
        Lang::En => &EN,
    }
}

/// Advice pages have an amber accent where block pages have red.
const ADVICE_CSS: &str = "main{border-top-color:#b45309}h1{color:#b45309}\
button{font:inherit;padding:.5rem 1rem;border:0;border-radius:4px;background:#1d4ed8;color:#fff;cursor:pointer}";

/// A complete HTML5 advice page in `lang`, whose form posts `token`.
pub fn html(lang: Lang, facts: &BlockFacts<'_>, token: &str) -> String {
    let t = text(lang);
    let mut out = String::with_capacity(2048 + facts.host.len() * 2 + facts.policy_title.len());
    push_page_start(&mut out, lang, t.title, ADVICE_CSS);
    out.push_str("<p>");
    out.push_str(t.advises_open);
    out.push_str("<strong>");
    push_html(&mut out, facts.host);
    out.push_str("</strong>");
    out.push_str(t.advises_close);
    push_policy(&mut out, facts, t.policy_open, t.policy_close);
    out.push_str(".</p>\n<p>");
    out.push_str(t.recorded);
    out.push_str("</p>\n<form method=\"post\" action=\"");
    out.push_str(CONTINUE_PATH);
    out.push_str("\">\n<input type=\"hidden\" name=\"token\" value=\"");
    push_html(&mut out, token);
    out.push_str("\">\n<button type=\"submit\">");
    out.push_str(t.button);
    push_html(&mut out, facts.host);
    out.push_str("</button>\n</form>\n<p>");
    out.push_str(t.event_id);
    out.push_str(t.colon);
    out.push_str("<code>");
    push_html(&mut out, facts.event_id);
    out.push_str("</code></p>\n");
    if !facts.contact.is_empty() {
        out.push_str("<p>");
        out.push_str(t.helpdesk);
        out.push_str(t.colon);
        out.push_str("<strong>");
        push_html(&mut out, facts.contact);
        out.push_str("</strong></p>\n");
    }
    out.push_str("<p><small>");
    if !facts.policy_id.is_empty() {
        push_html(&mut out, facts.policy_id);
    }
    if !facts.ruleset.is_empty() {
        out.push_str(" \u{b7} ");
        push_html(&mut out, facts.ruleset);
        if !facts.rule.is_empty() {
            out.push('/');
            push_html(&mut out, facts.rule);
        }
    }
    out.push_str("</small></p>\n</main>\n</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(host: &'a str, contact: &'a str) -> BlockFacts<'a> {
        BlockFacts {
            event_id: "ev-1",
            action: "advised",
            host,
            policy_id: "be-federal-tiktok",
            policy_title: "Federal ban",
            policy_reference: "NSC 2023-03-10",
            ruleset: "tiktok",
            rule: "tiktok.com",
            contact,
        }
    }

    #[test]
    fn every_language_has_the_form_and_the_facts() {
        for lang in [Lang::Nl, Lang::Fr, Lang::De, Lang::En] {
            let page = html(lang, &facts("www.tiktok.com", "helpdesk@example.gov"), "abc123");
            assert!(page.contains(&format!("<html lang=\"{}\"", lang.code())));
            assert!(page.contains("action=\"/.well-known/slagboom/continue\""));
            assert!(page.contains("name=\"token\" value=\"abc123\""));
            for fact in [
                "www.tiktok.com",
                "Federal ban",
                "NSC 2023-03-10",
                "ev-1",
                "helpdesk@example.gov",
            ] {
                assert!(page.contains(fact), "{lang:?}: {fact}");
            }
            assert!(!page.contains("<script"), "no script");
        }
    }

    #[test]
    fn reflected_values_are_escaped() {
        let page = html(
            Lang::En,
            &facts("x\"><script>alert(1)</script>", "<img src=x onerror=alert(1)>"),
            "\"><b>",
        );
        assert!(!page.contains("<script>alert"));
        assert!(!page.contains("<img"));
        assert!(!page.contains("\"><b>"));
        assert!(page.contains("&lt;script&gt;"));
    }
}
