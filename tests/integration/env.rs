//! `raytls env`: the RAY_TLS_* environment in each format, with absolute, safely quoted paths.
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{list_dir, read_string, s, Workspace};

/// A CA and a worker certificate in `<ws>/<dir>`.
fn certs_in(ws: &Workspace, dir: &str) -> PathBuf {
    let ca = ws.make_ca("ca");
    ws.issue("worker", &ca, dir, &["--pod-ip", "10.0.0.7"])
}

#[test]
fn dotenv_has_the_four_variables_with_absolute_paths() {
    let ws = Workspace::new();
    let dir = certs_in(&ws, "w");
    // A relative --dir still gives absolute paths.
    let o = ws.run(["env", "--dir", "w"]);
    o.ok();
    assert_eq!(
        o.stdout,
        format!(
            "RAY_USE_TLS=1\nRAY_TLS_SERVER_CERT={d}/tls.crt\nRAY_TLS_SERVER_KEY={d}/tls.key\nRAY_TLS_CA_CERT={d}/ca.crt\n",
            d = dir.display()
        )
    );
}

#[test]
fn json_format_parses() {
    let ws = Workspace::new();
    let dir = certs_in(&ws, "w");
    let o = ws.run(["env", "--dir", s(&dir), "--format", "json"]);
    o.ok();
    let v: serde_json::Value = serde_json::from_str(&o.stdout).expect("json");
    assert_eq!(v["RAY_USE_TLS"], "1");
    assert_eq!(v["RAY_TLS_SERVER_CERT"], s(&dir.join("tls.crt")));
    assert_eq!(v["RAY_TLS_SERVER_KEY"], s(&dir.join("tls.key")));
    assert_eq!(v["RAY_TLS_CA_CERT"], s(&dir.join("ca.crt")));
}

#[test]
fn k8s_format_is_an_env_list() {
    let ws = Workspace::new();
    let dir = certs_in(&ws, "w");
    let o = ws.run(["env", "--dir", s(&dir), "--format", "k8s"]);
    o.ok();
    assert!(o.stdout.starts_with("env:\n"), "{}", o.stdout);
    assert!(
        o.stdout
            .contains("  - name: RAY_USE_TLS\n    value: \"1\"\n"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains(&format!(
            "  - name: RAY_TLS_CA_CERT\n    value: \"{}\"\n",
            dir.join("ca.crt").display()
        )),
        "{}",
        o.stdout
    );
    let names = o
        .stdout
        .lines()
        .filter(|l| l.starts_with("  - name: "))
        .count();
    assert_eq!(names, 4, "{}", o.stdout);
}

/// Eval the shell output in bash and print one variable.
fn eval_in_bash(ws: &Workspace, dir: &Path, var: &str) -> String {
    let script =
        format!("eval \"$(\"$0\" env --dir \"$1\" --format shell)\" && printf %s \"${var}\"",);
    let out = Command::new("bash")
        .args(["-c", &script, crate::util::BIN, s(dir)])
        .current_dir(ws.path())
        .output()
        .expect("bash");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn shell_format_survives_eval_with_a_hostile_path() {
    let ws = Workspace::new();
    let dir = certs_in(&ws, "it's a $HOME `dir` \"q\"");
    let o = ws.run(["env", "--dir", s(&dir), "--format", "shell"]);
    o.ok();
    assert!(
        o.stdout.lines().all(|l| l.starts_with("export ")),
        "{}",
        o.stdout
    );
    assert_eq!(
        eval_in_bash(&ws, &dir, "RAY_TLS_CA_CERT"),
        s(&dir.join("ca.crt"))
    );
    assert_eq!(
        eval_in_bash(&ws, &dir, "RAY_TLS_SERVER_KEY"),
        s(&dir.join("tls.key"))
    );
    assert_eq!(eval_in_bash(&ws, &dir, "RAY_USE_TLS"), "1");
}

/// Source a dotenv file the way its readers do (`set -a; . FILE`) and print one variable.
fn source_dotenv(ws: &Workspace, env_file: &Path, var: &str) -> String {
    let script = format!("set -a; . \"$0\" && printf %s \"${var}\"");
    let out = Command::new("sh")
        .args(["-c", &script, s(env_file)])
        .current_dir(ws.path())
        .output()
        .expect("sh");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn dotenv_with_a_hostile_path_stays_one_line_per_variable() {
    let ws = Workspace::new();
    let dir = certs_in(&ws, "a b'$c");
    let o = ws.run(["env", "--dir", s(&dir), "--out", "ray.env"]);
    o.ok();
    let text = std::fs::read_to_string(ws.join("ray.env")).unwrap();
    assert_eq!(text.lines().count(), 4, "{text}");
    assert_eq!(
        source_dotenv(&ws, &ws.join("ray.env"), "RAY_TLS_CA_CERT"),
        s(&dir.join("ca.crt"))
    );
}

#[test]
fn regression_dotenv_runs_no_command_when_sourced() {
    let ws = Workspace::new();
    let marker = ws.join("pwned");
    let dir = certs_in(&ws, &format!("o $(id>{})", s(&marker)));
    ws.run(["env", "--dir", s(&dir), "--out", "ray.env"]).ok();
    assert_eq!(
        source_dotenv(&ws, &ws.join("ray.env"), "RAY_TLS_SERVER_KEY"),
        s(&dir.join("tls.key"))
    );
    assert!(!marker.exists(), "sourcing ray-tls.env ran a command");
    // init writes the same format into the directory it fills.
    let ca = ws.make_ca("ca2");
    let out = ws.join(format!("p $(id>{})", s(&marker)));
    ws.run([
        "init",
        "worker",
        "--ca",
        s(&ca),
        "--out",
        s(&out),
        "--pod-ip",
        "10.0.0.7",
    ])
    .ok();
    assert_eq!(
        source_dotenv(&ws, &out.join("ray-tls.env"), "RAY_TLS_CA_CERT"),
        s(&out.join("ca.crt"))
    );
    assert!(
        !marker.exists(),
        "sourcing init's ray-tls.env ran a command"
    );
}

#[test]
fn regression_env_refuses_paths_that_no_format_can_carry() {
    use std::os::unix::ffi::OsStrExt;
    let ws = Workspace::new();
    for name in [
        std::ffi::OsStr::from_bytes(b"del\x7fdir"),
        std::ffi::OsStr::from_bytes(b"bad\xffutf8"),
    ] {
        let dir = ws.join(name);
        for format in ["k8s", "dotenv"] {
            let o = ws.run([
                std::ffi::OsStr::new("env"),
                std::ffi::OsStr::new("--dir"),
                dir.as_os_str(),
                std::ffi::OsStr::new("--format"),
                std::ffi::OsStr::new(format),
            ]);
            o.expect_code(2)
                .fails_naming("not a valid path for the RAY_TLS_* environment");
            assert!(o.stdout.is_empty(), "{}", o.stdout);
            assert!(!o.stderr.contains('\x7f'), "{:?}", o.stderr);
        }
    }
}

#[test]
fn token_file_adds_auth_mode() {
    let ws = Workspace::new();
    let dir = certs_in(&ws, "w");
    let token = ws.join("token");
    std::fs::write(&token, "secret-token\n").unwrap();
    let o = ws.run(["env", "--dir", s(&dir), "--token-file", s(&token)]);
    o.ok();
    assert!(o.stdout.contains("RAY_AUTH_MODE=token\n"), "{}", o.stdout);
    assert!(
        o.stdout
            .contains(&format!("RAY_AUTH_TOKEN_PATH={}\n", token.display())),
        "{}",
        o.stdout
    );
    assert!(!o.stdout.contains("secret-token"), "token leaked");
}

#[test]
fn missing_token_file_is_an_error() {
    let ws = Workspace::new();
    let dir = certs_in(&ws, "w");
    ws.run(["env", "--dir", s(&dir), "--token-file", "no-such-token"])
        .expect_code(1)
        .fails_naming("no-such-token");
}

#[test]
fn out_file_is_written_and_not_overwritten_without_force() {
    let ws = Workspace::new();
    let dir = certs_in(&ws, "w");
    let dest = ws.join("ray.env");
    ws.run(["env", "--dir", s(&dir), "--out", s(&dest)]).ok();
    let first = read_string(&dest);
    assert!(first.starts_with("RAY_USE_TLS=1\n"), "{first}");
    std::fs::write(&dest, "mine\n").unwrap();
    ws.run(["env", "--dir", s(&dir), "--out", s(&dest)])
        .expect_code(1)
        .fails_naming("ray.env");
    assert_eq!(read_string(&dest), "mine\n");
    ws.run(["env", "--dir", s(&dir), "--out", s(&dest), "--force"])
        .ok();
    assert_eq!(read_string(&dest), first);
}

#[test]
fn missing_files_are_an_error() {
    let ws = Workspace::new();
    let dir = certs_in(&ws, "w");
    for f in ["tls.crt", "tls.key", "ca.crt"] {
        let d = ws.join(format!("partial-{f}"));
        std::fs::create_dir(&d).unwrap();
        for g in ["tls.crt", "tls.key", "ca.crt"] {
            if g != f {
                std::fs::copy(dir.join(g), d.join(g)).unwrap();
            }
        }
        let before = list_dir(&d);
        ws.run(["env", "--dir", s(&d)])
            .expect_code(1)
            .fails_naming(f);
        assert_eq!(list_dir(&d), before);
    }
    ws.run(["env", "--dir", "nowhere"])
        .expect_code(1)
        .fails_naming("nowhere");
}
