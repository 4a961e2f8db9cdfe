//! Deployment files: the compose stack validates with Debian's docker-compose (no Docker
//! engine runs here, so `config` is the check there is), the container's configuration
//! passes `slagboom check` laid out as in the image, and the OpenSearch template maps
//! the ECS fields.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn docker_compose_config_validates() {
    let out = Command::new("docker-compose")
        .current_dir(root())
        .args(["-f", "docker-compose.yml", "config", "-q"])
        .output()
        .expect("docker-compose: run `make deps`");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_image_configuration_checks() {
    // The image's layout: /etc/slagboom/{slagboom.toml, rules/, registry/}.
    let etc = tempfile::tempdir().unwrap();
    std::fs::copy(root().join("deploy/slagboom.toml"), etc.path().join("slagboom.toml")).unwrap();
    for dir in ["rules", "registry"] {
        std::fs::create_dir(etc.path().join(dir)).unwrap();
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let p = entry.unwrap().path();
            if p.is_file() {
                std::fs::copy(&p, etc.path().join(dir).join(p.file_name().unwrap())).unwrap();
            }
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_slagboom"))
        .args(["check", "-c", etc.path().join("slagboom.toml").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_index_template_maps_the_ecs_fields() {
    let text = std::fs::read_to_string(root().join("deploy/opensearch/template.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let props = &v["template"]["mappings"]["properties"];
    assert_eq!(props["@timestamp"]["type"], "date");
    assert_eq!(props["source"]["properties"]["ip"]["type"], "ip");
    assert_eq!(props["destination"]["properties"]["ip"]["type"], "ip");
    for path in [
        "event.id",
        "event.action",
        "event.reason",
        "rule.ruleset",
        "device.id",
        "labels.coverage",
        "tls.client.server_name",
    ] {
        let mut node = props;
        for (i, part) in path.split('.').enumerate() {
            node = if i == 0 { &node[part] } else { &node["properties"][part] };
        }
        assert_eq!(node["type"], "keyword", "{path}");
    }
}

#[test]
fn the_systemd_unit_is_hardened() {
    let unit = std::fs::read_to_string(root().join("deploy/systemd/slagboom.service")).unwrap();
    for line in [
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "StateDirectory=slagboom",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(unit.lines().any(|l| l == line), "missing {line}");
    }
}
