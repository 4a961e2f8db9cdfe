use super::*;

fn index(files: &[(&str, &str)]) -> RuleIndex {
    let mut b = index::Builder::default();
    for (name, text) in files {
        add_file(&mut b, Path::new(name), text).unwrap();
    }
    b.build().unwrap()
}

fn matched(idx: &RuleIndex, host: &str) -> Vec<(String, String)> {
    let host = Host::parse(host).unwrap();
    idx.lookup(&host)
        .into_iter()
        .map(|m| (idx.ruleset(m.ruleset).id.clone(), idx.rule(m.rule).text.clone()))
        .collect()
}

const TIKTOK: &str = r#"
id = "tiktok"
title = "TikTok"
domains = ["tiktok.com", "tiktokv.com", "sub.tiktok.com"]
exact = ["p16-tiktok.shared-cdn.example"]
patterns = ['v\d+-tiktok[a-z0-9-]*\.cdn\.example']
cidrs = ["192.0.2.0/24", "2001:db8:7::/48"]
"#;

#[test]
fn domains_match_suffixes_on_label_boundaries() {
    let idx = index(&[("t.toml", TIKTOK)]);
    assert_eq!(matched(&idx, "tiktok.com"), [("tiktok".into(), "tiktok.com".into())]);
    assert_eq!(
        matched(&idx, "www.tiktok.com"),
        [("tiktok".into(), "tiktok.com".into())]
    );
    // The longest listed suffix is the rule reported.
    assert_eq!(
        matched(&idx, "a.sub.tiktok.com"),
        [("tiktok".into(), "sub.tiktok.com".into())]
    );
    for lookalike in [
        "nottiktok.com",
        "tiktok.com.example.org",
        "tiktok.co",
        "mytiktokv.com",
        "com",
    ] {
        assert!(matched(&idx, lookalike).is_empty(), "{lookalike} matched");
    }
}

#[test]
fn exact_patterns_and_cidrs() {
    let idx = index(&[("t.toml", TIKTOK)]);
    assert_eq!(matched(&idx, "p16-tiktok.shared-cdn.example").len(), 1);
    assert!(matched(&idx, "x.p16-tiktok.shared-cdn.example").is_empty());
    assert_eq!(
        matched(&idx, "v19-tiktok-eu.cdn.example")[0].1,
        r"v\d+-tiktok[a-z0-9-]*\.cdn\.example"
    );
    // Patterns are anchored by the engine.
    assert!(matched(&idx, "xv19-tiktok.cdn.example.org").is_empty());
    assert!(matched(&idx, "v19-tiktok.cdn.example.org").is_empty());
    assert_eq!(matched(&idx, "192.0.2.77")[0].1, "192.0.2.0/24");
    assert_eq!(matched(&idx, "2001:db8:7::1")[0].1, "2001:db8:7::/48");
    assert!(matched(&idx, "192.0.3.1").is_empty());
    assert_eq!(idx.lookup_ip("192.0.2.1".parse().unwrap()).len(), 1);
}

#[test]
fn one_match_per_ruleset_exact_first() {
    let other = r#"
id = "shared"
title = "Shared"
domains = ["tiktok.com"]
exact = ["www.tiktok.com"]
"#;
    let idx = index(&[("t.toml", TIKTOK), ("s.toml", other)]);
    let m = matched(&idx, "www.tiktok.com");
    assert_eq!(
        m,
        [
            ("tiktok".into(), "tiktok.com".into()),
            ("shared".into(), "www.tiktok.com".into())
        ]
    );
}

#[test]
fn errors_carry_lines() {
    let mut b = index::Builder::default();
    let bad = "id = \"x\"\ntitle = \"X\"\ndomains = [\n  \"ok.example\",\n  \"bad host.example\",\n]\n";
    let e = add_file(&mut b, Path::new("rules/x.toml"), bad).unwrap_err();
    assert_eq!(
        e.to_string(),
        "rules/x.toml:5: domain \"bad host.example\": host contains a character that is not allowed: ' '"
    );
    let e = add_file(
        &mut b,
        Path::new("y.toml"),
        "id = \"y\"\ntitle = \"Y\"\npatterns = ['(']\n",
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("y.toml:3: pattern \"(\""), "{e}");
    let e = add_file(&mut b, Path::new("z.toml"), "id = \"z\"\ntitle = \"Z\"\nfoo = 1\n").unwrap_err();
    assert!(e.to_string().starts_with("z.toml:3: unknown field `foo`"), "{e}");
    let e = add_file(
        &mut b,
        Path::new("c.toml"),
        "id = \"c\"\ntitle = \"C\"\ncidrs = [\"10.0.0.1/8\"]\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("host bits"), "{e}");
    let e = add_file(
        &mut b,
        Path::new("a.toml"),
        "id = \"a\"\ntitle = \"A\"\nexact = [\"10.0.0.1\"]\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("cidrs"), "{e}");
}

#[test]
fn normalises_entries() {
    let idx = index(&[(
        "u.toml",
        "id = \"u\"\ntitle = \"U\"\ndomains = [\"TikTok.COM.\", \"bücher.example\"]\n",
    )]);
    assert_eq!(matched(&idx, "m.tiktok.com").len(), 1);
    assert_eq!(matched(&idx, "www.xn--bcher-kva.example").len(), 1);
    assert_eq!(matched(&idx, "www.BÜCHER.example").len(), 1);
}

#[test]
fn shipped_rulesets_load_and_do_not_overblock() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let idx = load_dir(&dir).unwrap();
    let tiktok = idx.ruleset_by_id("tiktok").unwrap();
    let hit = |h: &str| idx.lookup(&Host::parse(h).unwrap()).iter().any(|m| m.ruleset == tiktok);
    for h in [
        "www.tiktok.com",
        "tiktok.com",
        "api16-normal-c-useast1a.tiktokv.com",
        "v16m.tiktokcdn.com",
        "musical.ly",
        "muscdn.com",
        "tiktokv.eu",
        "tiktokw.us",
        "tiktokcdn-eu.com",
    ] {
        assert!(hit(h), "{h} not blocked");
    }
    for h in [
        "nottiktok.com",
        "tiktok.com.example.org",
        "tiktokfan.example",
        "mytiktok.com",
        "capcut.com",
        "www.example.org",
    ] {
        assert!(!hit(h), "{h} blocked");
    }
}
