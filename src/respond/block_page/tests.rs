use super::*;
use crate::respond::negotiate::wants_json;

fn facts() -> BlockFacts<'static> {
    BlockFacts {
        event_id: "01HZX3V9K2M4N6P8Q0R2S4T6V8",
        action: "blocked",
        host: "www.tiktok.com",
        policy_id: "be-nsc-2023-tiktok",
        policy_title: "Ban on TikTok on government-funded devices",
        policy_reference: "National Security Council decision, 2023-03-10",
        ruleset: "tiktok",
        rule: "tiktok-domains",
        contact: "helpdesk@example.be, +32 2 000 00 00",
    }
}

// --- Lang::negotiate ---------------------------------------------------

fn neg(header: &str) -> Lang {
    Lang::negotiate(Some(header))
}

#[test]
fn negotiate_absent_or_empty_is_english() {
    assert_eq!(Lang::negotiate(None), Lang::En);
    assert_eq!(neg(""), Lang::En);
    assert_eq!(neg("   "), Lang::En);
}

#[test]
fn negotiate_examples() {
    assert_eq!(neg("nl-BE,nl;q=0.9,en;q=0.8"), Lang::Nl);
    assert_eq!(neg("fr-BE"), Lang::Fr);
    assert_eq!(neg("de-DE"), Lang::De);
    assert_eq!(neg("en-GB"), Lang::En);
    assert_eq!(neg("de;q=0.5, fr;q=0.9"), Lang::Fr);
    assert_eq!(neg("en;q=0, nl;q=0.1"), Lang::Nl);
    assert_eq!(neg("es, it"), Lang::En);
    assert_eq!(neg("es, it, de;q=0.1"), Lang::De);
}

#[test]
fn negotiate_wildcard_is_ignored() {
    assert_eq!(neg("*"), Lang::En);
    assert_eq!(neg("*, nl;q=0.5"), Lang::Nl);
    assert_eq!(neg("*;q=1, de;q=0.2"), Lang::De);
}

#[test]
fn negotiate_garbage_is_english() {
    for header in [
        ";;;q=abc,,",
        ",,,",
        ";q=1",
        "=",
        "nl_BE",
        "nederlands",
        "nl-",
        "-nl",
        "nl--BE",
        "n1",
        "nl-BE-toolongsubtag",
        "nl;",
        "nl;q",
        "nl;q=",
        "nl;level=1",
        "nl;q=0.5;q=0.6",
        "\u{0}nl",
        "néerlandais",
        "\u{feff}nl",
    ] {
        assert_eq!(neg(header), Lang::En, "{header:?}");
    }
}

#[test]
fn negotiate_skips_malformed_elements_only() {
    assert_eq!(neg(";;;q=abc,, fr"), Lang::Fr);
    assert_eq!(neg("nl;q=abc, de;q=0.2"), Lang::De);
    assert_eq!(neg("nl_BE, fr-BE;q=0.3"), Lang::Fr);
}

#[test]
fn negotiate_is_case_insensitive() {
    assert_eq!(neg("NL"), Lang::Nl);
    assert_eq!(neg("Fr-be"), Lang::Fr);
    assert_eq!(neg("DE-de;Q=0.7, en;q=0.6"), Lang::De);
}

#[test]
fn negotiate_ties_go_to_first_listed() {
    assert_eq!(neg("fr, nl"), Lang::Fr);
    assert_eq!(neg("nl;q=0.8, fr;q=0.8"), Lang::Nl);
    assert_eq!(neg("de;q=0.5, nl;q=0.5, fr;q=0.9, en;q=0.9"), Lang::Fr);
    assert_eq!(neg("en, nl"), Lang::En);
}

#[test]
fn negotiate_q_values() {
    assert_eq!(neg("fr;q=1.0, nl;q=0.999"), Lang::Fr);
    assert_eq!(neg("nl;q=0.999, fr;q=1.000"), Lang::Fr);
    assert_eq!(neg("nl;q=1., fr;q=0.9"), Lang::Nl);
    assert_eq!(neg("nl;q=0.000"), Lang::En);
    assert_eq!(neg("nl;q=0.000, fr;q=0.001"), Lang::Fr);
    assert_eq!(neg("nl;q=0.0, de;q=0."), Lang::En);
    assert_eq!(neg("de ; q=0.5"), Lang::De);
    assert_eq!(neg("de;\tq=0.5 "), Lang::De);
}

#[test]
fn negotiate_rejects_invalid_q_values() {
    // Each of these makes the `nl` element malformed, so `fr` wins.
    for q in [
        "0.5000", "0.0001", "1.001", "1.0000", "2", "1.5", ".5", "-0.5", "0,5", "0.5x", "0x1", "", "+1", "0..5", "１",
    ] {
        let header = format!("nl;q={q}, fr;q=0.1");
        assert_eq!(neg(&header), Lang::Fr, "{header:?}");
    }
}

#[test]
fn negotiate_ignores_elements_after_the_first_32() {
    let mut header = "es, ".repeat(32);
    header.push_str("nl");
    assert_eq!(neg(&header), Lang::En);

    let mut header = "es, ".repeat(31);
    header.push_str("nl");
    assert_eq!(neg(&header), Lang::Nl);
}

#[test]
fn negotiate_never_panics() {
    let long = format!("{}nl", ",".repeat(100_000));
    assert_eq!(neg(&long), Lang::En);
    let long_tag = "a".repeat(100_000);
    assert_eq!(neg(&long_tag), Lang::En);

    // Deterministic pseudo-random inputs over an alphabet that includes
    // multi-byte characters and every syntactically relevant byte.
    let alphabet = [
        "n", "l", "f", "r", "d", "e", "-", ",", ";", "q", "=", "0", "1", ".", "5", " ", "\t", "*", "é", "€", "\u{0}",
        "\"", "\\", "Q",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut input = String::new();
    for _ in 0..5_000 {
        input.clear();
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let len = (state >> 58) as usize;
        for _ in 0..len {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            input.push_str(alphabet[(state >> 33) as usize % alphabet.len()]);
        }
        let _ = Lang::negotiate(Some(&input));
        let _ = wants_json(Some(&input));
    }
}

#[test]
fn lang_codes() {
    assert_eq!(Lang::Nl.code(), "nl");
    assert_eq!(Lang::Fr.code(), "fr");
    assert_eq!(Lang::De.code(), "de");
    assert_eq!(Lang::En.code(), "en");
}

// --- html ----------------------------------------------------------------

#[test]
fn html_is_a_complete_document_in_every_language() {
    let f = facts();
    for (lang, title, label) in [
        (Lang::En, "Access blocked", "Event ID"),
        (Lang::Nl, "Toegang geblokkeerd", "Gebeurtenis-ID"),
        (Lang::Fr, "Accès bloqué", "Identifiant de l'événement"),
        (Lang::De, "Zugriff gesperrt", "Ereignis-ID"),
    ] {
        let page = html(lang, &f);
        assert!(page.starts_with("<!DOCTYPE html>\n"), "{lang:?}");
        let lang_attr = format!("<html lang=\"{}\">", lang.code());
        assert!(page.contains(&lang_attr), "{lang:?}");
        assert!(page.contains("<meta charset=\"utf-8\">"));
        assert!(page.contains("name=\"viewport\""));
        let title_tag = format!("<title>{title}</title>");
        assert!(page.contains(&title_tag), "{lang:?}");
        let heading = format!("<h1>{title}</h1>");
        assert!(page.contains(&heading), "{lang:?}");
        assert!(page.contains(label), "{lang:?}");
        assert!(page.contains("<code>01HZX3V9K2M4N6P8Q0R2S4T6V8</code>"));
        assert!(page.contains("<strong>www.tiktok.com</strong>"));
        assert!(page.contains("Ban on TikTok on government-funded devices"));
        assert!(page.contains("National Security Council decision, 2023-03-10"));
        assert!(page.contains("helpdesk@example.be, +32 2 000 00 00"));
        assert!(page.contains("be-nsc-2023-tiktok"));
        assert!(page.contains("tiktok/tiktok-domains"));
        assert!(page.ends_with("</html>\n"));
    }
}

#[test]
fn html_has_no_scripts_or_external_resources() {
    for lang in Lang::ALL {
        let page = html(lang, &facts());
        for needle in ["<script", "src=", "href=", "http:", "https:", "url(", "@import"] {
            assert!(!page.contains(needle), "{lang:?} contains {needle}");
        }
    }
}

#[test]
fn html_is_small_and_presized() {
    let f = facts();
    for lang in Lang::ALL {
        let page = html(lang, &f);
        assert!(page.len() < 3 * 1024, "{lang:?}: {} bytes", page.len());
        assert!(
            page.len() <= html_capacity(&f),
            "{lang:?}: {} > {}",
            page.len(),
            html_capacity(&f)
        );
    }
}

#[test]
fn html_escapes_hostile_host() {
    let hostile = "<script>alert(1)</script>";
    let f = BlockFacts {
        host: hostile,
        ..facts()
    };
    for lang in Lang::ALL {
        let page = html(lang, &f);
        assert!(!page.contains(hostile), "{lang:?}");
        assert!(!page.contains("<script"), "{lang:?}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{lang:?}");
    }
}

#[test]
fn html_escapes_every_field() {
    let hostile = "<img src=x onerror=alert(1)>\"'&";
    let escaped = "&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;";
    let all = BlockFacts {
        event_id: hostile,
        action: hostile,
        host: hostile,
        policy_id: hostile,
        policy_title: hostile,
        policy_reference: hostile,
        ruleset: hostile,
        rule: hostile,
        contact: hostile,
    };
    for lang in Lang::ALL {
        let page = html(lang, &all);
        assert!(!page.contains("<img"), "{lang:?}");
        assert!(!page.contains("\"'"), "{lang:?}");
        // event id, action, host, title, reference, policy id, ruleset,
        // rule, contact (the policy id is not repeated when a title exists).
        assert_eq!(page.matches(escaped).count(), 9, "{lang:?}");
    }
}

#[test]
fn html_replaces_control_and_bidi_characters() {
    let f = BlockFacts {
        host: "evil\u{0}.com\u{1b}[31m\u{7f}\u{85}",
        contact: "help\u{202e}moc.elpmaxe@",
        ..facts()
    };
    let page = html(Lang::En, &f);
    assert!(page.contains("evil&#xFFFD;.com&#xFFFD;[31m&#xFFFD;&#xFFFD;"));
    assert!(page.contains("help&#xFFFD;moc.elpmaxe@"));
    assert!(!page
        .chars()
        .any(|c| c == '\u{0}' || c == '\u{1b}' || c == '\u{7f}' || c == '\u{85}' || c == '\u{202e}'));
}

#[test]
fn html_keeps_non_ascii_text() {
    let f = BlockFacts {
        policy_title: "Verbod op TikTok – “federale toestellen”",
        ..facts()
    };
    let page = html(Lang::Nl, &f);
    assert!(page.contains("Verbod op TikTok – “federale toestellen”"));
}

#[test]
fn html_localises_action_and_escapes_unknown_actions() {
    let refused = BlockFacts {
        action: "refused",
        ..facts()
    };
    assert!(html(Lang::Nl, &refused).contains("Beslissing: geweigerd"));
    assert!(html(Lang::Fr, &refused).contains("Décision&nbsp;: refus"));
    assert!(html(Lang::De, &refused).contains("Entscheidung: abgelehnt"));
    assert!(html(Lang::En, &refused).contains("Decision: refused"));
    assert!(html(Lang::De, &facts()).contains("Entscheidung: gesperrt"));

    let odd = BlockFacts {
        action: "<b>",
        ..facts()
    };
    assert!(html(Lang::En, &odd).contains("Decision: &lt;b&gt;"));
}

#[test]
fn html_omits_empty_optional_parts() {
    let f = BlockFacts {
        policy_title: "",
        policy_reference: "",
        contact: "",
        action: "",
        ruleset: "",
        rule: "",
        ..facts()
    };
    let page = html(Lang::En, &f);
    assert!(!page.contains("()"));
    assert!(!page.contains("Helpdesk:"));
    assert!(!page.contains("Decision"));
    assert!(!page.contains("Rule"));
    // The policy id stands in for a missing title.
    assert!(page.contains("under the policy \u{201c}be-nsc-2023-tiktok\u{201d}."));
    assert!(page.contains("<small>Policy: be-nsc-2023-tiktok</small>"));

    let bare = BlockFacts {
        event_id: "",
        action: "",
        host: "",
        policy_id: "",
        policy_title: "",
        policy_reference: "",
        ruleset: "",
        rule: "",
        contact: "",
    };
    let page = html(Lang::De, &bare);
    assert!(page.contains("Der Zugriff auf <strong></strong> ist gesperrt.</p>"));
    assert!(page.contains("<small></small>"));
}

#[test]
fn html_sentence_reads_naturally() {
    let f = facts();
    assert!(html(Lang::En, &f).contains(
        "This device is funded by your organisation. Access to \
         <strong>www.tiktok.com</strong> is blocked under the policy \
         \u{201c}Ban on TikTok on government-funded devices\u{201d} \
         (National Security Council decision, 2023-03-10).</p>"
    ));
    assert!(html(Lang::De, &f).contains(
        "Der Zugriff auf <strong>www.tiktok.com</strong> ist gemäß der \
         Richtlinie \u{201e}Ban on TikTok on government-funded devices\u{201c} \
         (National Security Council decision, 2023-03-10) gesperrt.</p>"
    ));
    assert!(html(Lang::Fr, &f).contains("en vertu de la politique «&nbsp;Ban on TikTok"));
    assert!(html(Lang::Nl, &f).contains("is geblokkeerd op grond van het beleid"));
}

// --- json ----------------------------------------------------------------

#[test]
fn json_exact_fixture() {
    assert_eq!(
        json(&facts()),
        concat!(
            r#"{"event_id":"01HZX3V9K2M4N6P8Q0R2S4T6V8","action":"blocked","#,
            r#""host":"www.tiktok.com","policy":{"id":"be-nsc-2023-tiktok","#,
            r#""title":"Ban on TikTok on government-funded devices","#,
            r#""reference":"National Security Council decision, 2023-03-10"},"#,
            r#""ruleset":"tiktok","rule":"tiktok-domains","#,
            r#""contact":"helpdesk@example.be, +32 2 000 00 00"}"#
        )
    );
}

#[test]
fn json_empty_strings() {
    let bare = BlockFacts {
        event_id: "",
        action: "",
        host: "",
        policy_id: "",
        policy_title: "",
        policy_reference: "",
        ruleset: "",
        rule: "",
        contact: "",
    };
    assert_eq!(
        json(&bare),
        r#"{"event_id":"","action":"","host":"","policy":{"id":"","title":"","reference":""},"ruleset":"","rule":"","contact":""}"#
    );
}

#[test]
fn json_escapes_quotes_backslashes_and_controls() {
    let f = BlockFacts {
        event_id: "a\"b\\c",
        host: "line1\nline2\r\ttab",
        policy_title: "\u{0}\u{1}\u{8}\u{b}\u{c}\u{1f} ",
        contact: "</script>\u{7f}é€\u{2028}\u{2029}😀",
        ..facts()
    };
    let out = json(&f);
    assert!(out.contains(r#""event_id":"a\"b\\c""#), "{out}");
    assert!(out.contains(r#""host":"line1\nline2\r\ttab""#), "{out}");
    assert!(out.contains(r#""title":"\u0000\u0001\b\u000b\f\u001f ""#), "{out}");
    assert!(
        out.contains("\"contact\":\"</script>\u{7f}é€\\u2028\\u2029😀\""),
        "{out}"
    );
    assert!(!out.chars().any(|c| c < ' '), "{out}");
}

// --- wants_json ------------------------------------------------------------

fn wj(header: &str) -> bool {
    wants_json(Some(header))
}

#[test]
fn wants_json_required_cases() {
    assert!(!wants_json(None));
    assert!(wj("application/json"));
    assert!(!wj("text/html,application/json;q=0.9"));
    assert!(wj("application/json, text/html;q=0.5"));
    assert!(!wj("*/*"));
    assert!(wj("application/problem+json"));
    assert!(!wj("application/json;q=0"));
}

#[test]
fn wants_json_more_cases() {
    assert!(!wj(""));
    assert!(!wj("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"));
    assert!(wj("APPLICATION/JSON"));
    assert!(wj("application/vnd.api+JSON"));
    assert!(wj("application/json, */*;q=0.1"));
    assert!(wj("application/json, */*"));
    assert!(wj("text/html, application/json"));
    assert!(!wj("application/json;q=0.5, */*"));
    assert!(!wj("text/*, application/json;q=0.5"));
    // The most specific range decides HTML's rank.
    assert!(wj("application/json;q=0.5, text/html;q=0.4, */*"));
    assert!(wj("application/json;q=0, application/problem+json"));
    assert!(!wj("application/*"));
    assert!(!wj("application/+json"));
    assert!(!wj("text/json"));
    assert!(!wj("application/json;q=abc"));
    assert!(!wj("application/json;q=0.000"));
    assert!(wj("application/json;q=0.001"));
    assert!(wj("application/json;charset=utf-8"));
    assert!(wj("application/json ; q=0.8 , text/html ; q=0.7"));
    assert!(!wj("application/json;q=0.7,text/html;q=0.8"));
    assert!(!wj("application json"));
    assert!(!wj("*/json"));
}

#[test]
fn wants_json_respects_quoted_strings() {
    assert!(wj("application/json;x=\"a,text/html\";q=0.5, text/html;q=0.4"));
    assert!(!wj("text/html;x=\"a,application/json\""));
    assert!(!wj("text/html;x=\"\\\",application/json\""));
    assert!(!wj("text/html;x=\"unterminated, application/json"));
}

#[test]
fn wants_json_ignores_elements_after_the_first_32() {
    let mut header = "text/plain, ".repeat(32);
    header.push_str("application/json");
    assert!(!wj(&header));

    let mut header = "text/plain, ".repeat(31);
    header.push_str("application/json");
    assert!(wj(&header));
}
