//! The deployment kit: token, netrc, lint-uri, completions, man. Every test runs the real
//! binary through the one runner (`util::Workspace`) with HOME pointed at the workspace and
//! NETRC removed (never the real ~/.netrc), and checks what a user sees: exit code,
//! stdout/stderr, the files left and their modes.
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::util::{self, mode, Cmd, Output, Workspace};

/// `raytls args...` in `ws`, with HOME there (the runner already removes NETRC).
fn raytls<'a>(ws: &'a Workspace, args: &[&str]) -> Cmd<'a> {
    ws.raytls(args).env("HOME", ws.path())
}

/// Run it; no run may panic, whatever the input.
fn run(ws: &Workspace, args: &[&str]) -> Output {
    no_panic(raytls(ws, args).run())
}

#[track_caller]
fn no_panic(out: Output) -> Output {
    assert!(
        !out.stderr.contains("panicked"),
        "raytls panicked: {out:#?}"
    );
    out
}

/// A fixture file with a mode.
fn write(ws: &Workspace, name: &str, text: &str, m: u32) -> PathBuf {
    let p = ws.join(name);
    fs::write(&p, text).expect("write fixture");
    util::set_mode(&p, m);
    p
}

fn read(ws: &Workspace, name: &str) -> String {
    util::read_string(&ws.join(name))
}

fn is_base64_token(s: &str) -> bool {
    s.len() == 44
        && s.ends_with('=')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c))
}

// ---------------------------------------------------------------- token

#[test]
fn token_generate_prints_a_base64_token_like_openssl_rand() {
    let ws = Workspace::new();
    let a = run(&ws, &["token", "generate"]);
    let b = run(&ws, &["token", "generate"]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert!(a.stdout.ends_with('\n'));
    assert!(is_base64_token(a.stdout.trim_end()), "{:?}", a.stdout);
    assert_ne!(a.stdout, b.stdout, "two tokens must differ");
}

#[test]
fn token_generate_out_writes_0600_and_refuses_to_overwrite() {
    let ws = Workspace::new();
    let r = run(&ws, &["token", "generate", "--out", "auth_token"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("(mode 0600)"));
    assert_eq!(mode(&ws.join("auth_token")), 0o600);
    let first = read(&ws, "auth_token");
    assert!(is_base64_token(first.trim_end()));

    let again = run(&ws, &["token", "generate", "--out", "auth_token"]);
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains("already exists; pass --force"),
        "{}",
        again.stderr
    );
    assert_eq!(
        read(&ws, "auth_token"),
        first,
        "refused write left the file alone"
    );

    let forced = run(
        &ws,
        &["token", "generate", "--out", "auth_token", "--force"],
    );
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_ne!(read(&ws, "auth_token"), first);
    assert_eq!(mode(&ws.join("auth_token")), 0o600);
    assert_eq!(
        util::list_dir(ws.path()),
        ["auth_token"],
        "no temp files left behind"
    );
}

#[test]
fn token_generate_k8s_secret_manifest() {
    let ws = Workspace::new();
    let r = run(
        &ws,
        &[
            "token",
            "generate",
            "--k8s-secret",
            "ray-auth-token",
            "--namespace",
            "ray",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    for want in [
        "apiVersion: v1\n",
        "kind: Secret\n",
        "  name: ray-auth-token\n",
        "  namespace: ray\n",
        "type: Opaque\n",
    ] {
        assert!(r.stdout.contains(want), "missing {want:?} in\n{}", r.stdout);
    }
    let data = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("  auth_token: "))
        .expect("auth_token key");
    // base64 of a 44-character token is 60 characters.
    assert_eq!(data.len(), 60, "{data}");
}

#[test]
fn token_generate_k8s_secret_to_file_is_0600() {
    let ws = Workspace::new();
    let r = run(
        &ws,
        &[
            "token",
            "generate",
            "--k8s-secret",
            "tok",
            "--out",
            "s.yaml",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(mode(&ws.join("s.yaml")), 0o600);
    assert!(read(&ws, "s.yaml").contains("kind: Secret"));
    assert!(r.stdout.contains("Kubernetes Secret tok"));
}

#[test]
fn token_generate_rejects_bad_names_and_flag_combinations() {
    let ws = Workspace::new();
    let r = run(&ws, &["token", "generate", "--k8s-secret", "Ray_Token"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("--k8s-secret=\"Ray_Token\"") && r.stderr.contains("lowercase"),
        "{}",
        r.stderr
    );
    let r = run(
        &ws,
        &[
            "token",
            "generate",
            "--k8s-secret",
            "t",
            "--namespace",
            "a.b",
        ],
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--namespace"), "{}", r.stderr);
    // --namespace only means something for a Secret, --force only with --out.
    assert_eq!(
        run(&ws, &["token", "generate", "--namespace", "ray"]).code,
        2
    );
    assert_eq!(run(&ws, &["token", "generate", "--force"]).code, 2);
    assert_eq!(run(&ws, &["token"]).code, 2);
}

#[test]
fn token_generate_out_into_a_file_path_that_is_a_directory_fails() {
    let ws = Workspace::new();
    fs::create_dir(ws.join("d")).expect("mkdir");
    let r = run(&ws, &["token", "generate", "--out", "d"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
}

// ---------------------------------------------------------------- netrc

fn netrc_set(ws: &Workspace, extra: &[&str]) -> Output {
    let mut args = vec![
        "netrc",
        "set",
        "--machine",
        "github.com",
        "--login",
        "alice",
        "--password-file",
        "pw",
    ];
    args.extend_from_slice(extra);
    run(ws, &args)
}

#[test]
fn netrc_set_creates_home_netrc_0600() {
    let ws = Workspace::new();
    write(&ws, "pw", "ghp_secret123\n", 0o600);
    let r = netrc_set(&ws, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("added machine github.com"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("ghp_secret123"));
    assert_eq!(
        read(&ws, ".netrc"),
        "machine github.com\nlogin alice\npassword ghp_secret123\n"
    );
    assert_eq!(mode(&ws.join(".netrc")), 0o600);
}

#[test]
fn netrc_set_updates_one_entry_and_leaves_the_rest_byte_for_byte() {
    let ws = Workspace::new();
    let before = "# work\nmachine gitlab.com login bob password glpat-1\n\n\
                  machine github.com\n    login old\n    password oldpw\n# keep me\nmacdef init\ncd /x\n\n\
                  default login anonymous password guest\n";
    write(&ws, ".netrc", before, 0o600);
    write(&ws, "pw", "newpw\n", 0o600);
    let r = netrc_set(&ws, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("updated machine github.com"),
        "{}",
        r.stdout
    );
    assert_eq!(
        read(&ws, ".netrc"),
        "# work\nmachine gitlab.com login bob password glpat-1\n\n\
         machine github.com\nlogin alice\npassword newpw\n# keep me\nmacdef init\ncd /x\n\n\
         default login anonymous password guest\n"
    );
}

#[test]
fn netrc_set_inserts_before_default_and_removes_duplicates() {
    let ws = Workspace::new();
    write(
        &ws,
        ".netrc",
        "machine github.com login a password 1\nmachine github.com login b password 2\n",
        0o600,
    );
    write(&ws, "pw", "3", 0o600);
    let r = netrc_set(&ws, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("removed 1 duplicate entry"),
        "{}",
        r.stdout
    );
    assert_eq!(
        read(&ws, ".netrc"),
        "machine github.com\nlogin alice\npassword 3\n"
    );

    let ws = Workspace::new();
    write(&ws, ".netrc", "default login anonymous password x\n", 0o600);
    write(&ws, "pw", "3", 0o600);
    assert_eq!(netrc_set(&ws, &[]).code, 0);
    assert_eq!(
        read(&ws, ".netrc"),
        "machine github.com\nlogin alice\npassword 3\n\ndefault login anonymous password x\n"
    );
}

#[test]
fn netrc_set_uses_netrc_env_then_file_flag() {
    let ws = Workspace::new();
    write(&ws, "pw", "tok", 0o600);
    let r = raytls(
        &ws,
        &[
            "netrc",
            "set",
            "--machine",
            "h.example",
            "--login",
            "u",
            "--password-file",
            "pw",
        ],
    )
    .env("NETRC", ws.join("from-env"))
    .run();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(read(&ws, "from-env").contains("machine h.example"));
    assert!(!ws.join(".netrc").exists());

    let r = netrc_set(&ws, &["--file", "explicit"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(mode(&ws.join("explicit")), 0o600);

    // A directory that does not exist yet is made (0700), as before the lock.
    let r = netrc_set(&ws, &["--file", "new/dir/netrc"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(mode(&ws.join("new/dir/netrc")), 0o600);
    assert_eq!(mode(&ws.join("new/dir")), 0o700);
}

#[test]
fn netrc_set_escapes_what_it_prints() {
    // A right-to-left override is not a control character, so netrc accepts it as part
    // of a name; the line about it must still not reorder the terminal.
    let ws = Workspace::new();
    write(&ws, "pw", "x", 0o600);
    let args = [
        "netrc",
        "set",
        "--machine",
        "moc.\u{202e}evil",
        "--login",
        "u",
        "--password-file",
        "pw",
    ];
    let r = run(&ws, &args);
    assert_eq!(r.code, 0, "{r:#?}");
    assert!(!r.stdout.contains('\u{202e}'), "{:?}", r.stdout);
    assert!(
        r.stdout
            .contains("added machine moc.\\u{202e}evil (login u)"),
        "{}",
        r.stdout
    );
}

#[test]
fn netrc_set_tightens_a_loose_mode() {
    let ws = Workspace::new();
    write(&ws, ".netrc", "machine a.com login u password p\n", 0o644);
    write(&ws, "pw", "x", 0o600);
    assert_eq!(netrc_set(&ws, &[]).code, 0);
    assert_eq!(mode(&ws.join(".netrc")), 0o600);
}

#[test]
fn netrc_set_reads_the_password_from_stdin() {
    let ws = Workspace::new();
    let r = raytls(
        &ws,
        &[
            "netrc",
            "set",
            "--machine",
            "gitlab.example.com",
            "--login",
            "oauth2",
            "--password-file",
            "-",
        ],
    )
    .stdin("glpat-abc\nsecond line ignored\n")
    .run();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(read(&ws, ".netrc").contains("password glpat-abc\n"));
}

#[test]
fn netrc_set_follows_a_symlink() {
    let ws = Workspace::new();
    let real = write(
        &ws,
        "dotfiles-netrc",
        "machine a.com login u password p\n",
        0o600,
    );
    std::os::unix::fs::symlink(&real, ws.join(".netrc")).expect("symlink");
    write(&ws, "pw", "x", 0o600);
    assert_eq!(netrc_set(&ws, &[]).code, 0);
    assert!(fs::symlink_metadata(ws.join(".netrc"))
        .expect("lstat")
        .file_type()
        .is_symlink());
    assert!(read(&ws, "dotfiles-netrc").contains("machine github.com"));
}

#[test]
fn netrc_set_rejects_values_readers_would_mangle_without_echoing_the_password() {
    let ws = Workspace::new();
    write(&ws, "pw", "two words\n", 0o600);
    let r = netrc_set(&ws, &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--password-file"), "{}", r.stderr);
    assert!(!r.stderr.contains("two words"), "{}", r.stderr);
    assert!(!ws.join(".netrc").exists());

    write(&ws, "pw", "\n", 0o600);
    let r = netrc_set(&ws, &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("empty"), "{}", r.stderr);

    write(&ws, "pw", "ok", 0o600);
    for (flag, bad) in [
        ("--machine", "https://github.com"),
        ("--machine", "github.com:443"),
        ("--machine", "bob@github.com"),
        ("--login", "a b"),
        ("--login", "#x"),
    ] {
        let login = if flag == "--login" { bad } else { "alice" };
        let machine = if flag == "--machine" {
            bad
        } else {
            "github.com"
        };
        let r = run(
            &ws,
            &[
                "netrc",
                "set",
                "--machine",
                machine,
                "--login",
                login,
                "--password-file",
                "pw",
            ],
        );
        assert_eq!(r.code, 2, "{flag} {bad}: {}", r.stderr);
        assert!(r.stderr.contains(flag), "{}", r.stderr);
    }
    let r = run(
        &ws,
        &[
            "netrc",
            "set",
            "--machine",
            "h",
            "--login",
            "u",
            "--password-file",
            "missing",
        ],
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("cannot read missing"), "{}", r.stderr);
}

#[test]
fn netrc_set_refuses_to_edit_a_malformed_file() {
    let ws = Workspace::new();
    let before = "machine a.com\nuser bob\npassword p\n";
    write(&ws, ".netrc", before, 0o600);
    write(&ws, "pw", "x", 0o600);
    let r = netrc_set(&ws, &[]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(":2: `user` is not a netrc keyword") && r.stderr.contains("netrc check"),
        "{}",
        r.stderr
    );
    assert_eq!(read(&ws, ".netrc"), before);
}

#[test]
fn netrc_check_passes_a_clean_file() {
    let ws = Workspace::new();
    write(
        &ws,
        ".netrc",
        "# c\nmachine github.com login a password p\nmachine [::1] login b password q\n",
        0o600,
    );
    let r = run(&ws, &["netrc", "check"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("ok: ") && r.stdout.contains("2 machine entries, mode 0600"));
}

#[test]
fn netrc_check_reports_a_loose_mode() {
    let ws = Workspace::new();
    write(&ws, ".netrc", "machine a.com login u password p\n", 0o644);
    let r = run(&ws, &["netrc", "check"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("mode 0644") && r.stdout.contains("chmod 600"),
        "{}",
        r.stdout
    );
}

#[test]
fn netrc_check_reports_each_malformed_line_with_its_number() {
    let cases: [(&str, &str, &str); 11] = [
        (
            "machine a.com\nuser bob\npassword p\n",
            ":2:",
            "`user` is not a netrc keyword; use `login`",
        ),
        ("login x password y\n", ":1:", "before any `machine`"),
        (
            "machine a.com login u\npassword\n",
            ":2:",
            "`password` has no value",
        ),
        ("machine\n", ":1:", "not followed by a name"),
        (
            "machine a.com login u password p hunter2\n",
            ":1:",
            "unexpected word (not shown",
        ),
        (
            "machine https://github.com login u password p\n",
            ":1:",
            "is a URL",
        ),
        (
            "machine github.com:443 login u password p\n",
            ":1:",
            "has a port",
        ),
        (
            "machine a login u password p\n\nmachine a login v password q\n",
            ":3:",
            "appears again (first on line 1)",
        ),
        (
            "default login x password y\nmachine a login u password p\n",
            ":2:",
            "after the `default` entry",
        ),
        ("machine a login u\n", ":1:", "has no password"),
        ("machine a login u password \"open\n", ":1:", "no closing"),
    ];
    for (text, line, want) in cases {
        let ws = Workspace::new();
        write(&ws, ".netrc", text, 0o600);
        let r = run(&ws, &["netrc", "check"]);
        assert_eq!(r.code, 1, "{text:?}: {}", r.stdout);
        assert!(
            r.stdout.contains(&format!(".netrc{line} ")) && r.stdout.contains(want),
            "{text:?}: want {line} {want:?}, got\n{}",
            r.stdout
        );
        assert!(!r.stdout.contains("hunter2"), "a secret was echoed");
    }
}

#[test]
fn netrc_check_missing_file_and_missing_home() {
    let ws = Workspace::new();
    let r = run(&ws, &["netrc", "check"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("does not exist") && r.stderr.contains("raytls netrc set"),
        "{}",
        r.stderr
    );
    let mut cmd = raytls(&ws, &["netrc", "check"]).command();
    let out = cmd.env_remove("HOME").output().expect("run raytls");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--file") && stderr.contains("NETRC"),
        "{stderr}"
    );
}

#[test]
fn netrc_check_follows_netrc_env() {
    let ws = Workspace::new();
    write(&ws, "n", "machine a login u password p\n", 0o600);
    let r = raytls(&ws, &["netrc", "check"])
        .env("NETRC", ws.join("n"))
        .run();
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("1 machine entry"));
}

#[test]
fn netrc_check_does_not_panic_on_binary_or_non_utf8() {
    let ws = Workspace::new();
    fs::write(ws.join(".netrc"), [0xff, 0xfe, b'\n', 0]).expect("write");
    util::set_mode(&ws.join(".netrc"), 0o600);
    let r = run(&ws, &["netrc", "check"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("cannot read"), "{}", r.stderr);
}

#[test]
fn regression_netrc_check_never_echoes_words_of_an_unquoted_password() {
    let ws = Workspace::new();
    write(
        &ws,
        ".netrc",
        "machine a.com login u password my pass phrase\n",
        0o600,
    );
    let r = run(&ws, &["netrc", "check"]);
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(
        r.stdout.contains(".netrc:1: unexpected word (not shown"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(".netrc: 2 problems"), "{}", r.stdout);
    let words: Vec<&str> = r
        .stdout
        .split(|c: char| !c.is_ascii_alphanumeric())
        .collect();
    for secret in ["my", "pass", "phrase"] {
        assert!(!words.contains(&secret), "{secret:?} echoed:\n{}", r.stdout);
    }
}

#[test]
fn regression_netrc_set_concurrent_updates_are_not_lost() {
    // 20 parallel `netrc set` on one file kept 2 to 6 of the 20 entries, all exiting 0.
    let ws = Workspace::new();
    write(&ws, "pw", "s3cret", 0o600);
    let machines: Vec<String> = (0..20).map(|i| format!("host{i}.example.com")).collect();
    let children: Vec<_> = machines
        .iter()
        .map(|m| {
            let args = [
                "netrc",
                "set",
                "--machine",
                m,
                "--login",
                "u",
                "--password-file",
                "pw",
            ];
            raytls(&ws, &args)
                .command()
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn raytls")
        })
        .collect();
    for (m, child) in machines.iter().zip(children) {
        let out = child.wait_with_output().expect("wait raytls");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{m}: {stderr}");
    }
    let netrc = read(&ws, ".netrc");
    for m in &machines {
        assert_eq!(
            netrc.matches(&format!("machine {m}\n")).count(),
            1,
            "{m} lost or doubled:\n{netrc}"
        );
    }
    assert_eq!(
        util::list_dir(ws.path()),
        [".netrc", "pw"],
        "temp files left"
    );
    let r = run(&ws, &["netrc", "check"]);
    assert_eq!(r.code, 0, "{r:#?}");
    assert!(r.stdout.contains("20 machine entries"), "{}", r.stdout);
}

#[test]
fn regression_netrc_check_quadratic_80k_entries() {
    // 3 MB / 80,000 entries took 67 s and 200 KB of stray words 4.5 s: every line number
    // was counted from the start of the file. Correctness only is asserted here (no timing
    // in tests); before/after times are measured by hand.
    let ws = Workspace::new();
    let text: String = (0..80_000)
        .map(|i| format!("machine host{i}.example.com login user{i} password pw{i}\n"))
        .collect();
    write(&ws, ".netrc", &text, 0o600);
    let r = run(&ws, &["netrc", "check"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("80000 machine entries, mode 0600"),
        "{}",
        r.stdout
    );

    let strays = format!("machine a login u password p\n{}", "stray\n".repeat(34_000));
    write(&ws, ".netrc", &strays, 0o600);
    let r = run(&ws, &["netrc", "check"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stdout.contains(".netrc:34001: unexpected word"),
        "{}",
        &r.stdout[r.stdout.len() - 300..]
    );
    assert!(
        r.stdout.ends_with(".netrc: 34000 problems\n"),
        "{}",
        &r.stdout[r.stdout.len() - 300..]
    );
}

#[test]
fn netrc_check_escapes_control_characters_in_machine_names() {
    let ws = Workspace::new();
    write(
        &ws,
        ".netrc",
        "machine \x1b[2KOK\x07.example login u password p\n\
         machine \x1b[2KOK\x07.example login u password q\n",
        0o600,
    );
    let r = run(&ws, &["netrc", "check"]);
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(
        !r.stdout.contains('\x1b') && !r.stdout.contains('\x07'),
        "{:?}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains(".netrc:2: machine \\x1b[2KOK\\x07.example appears again"),
        "{}",
        r.stdout
    );
}

// ---------------------------------------------------------------- lint-uri

#[test]
fn lint_uri_flags_each_kind_of_embedded_credential() {
    let ws = Workspace::new();
    let cases = [
        ("https://alice:s3cr3t@github.com/o/r/archive/main.zip", "s3cr3t", "user:password@"),
        ("https://ghp_AbCdEf0123456789xyzw@github.com/o/r.zip", "ghp_AbCdEf", "token as the URI's user name"),
        ("https://h.example/pkg.zip?token=t0k3n", "t0k3n", "(token=)"),
        ("https://h.example/pkg.zip?ref=main&access_token=t0k3n", "t0k3n", "(access_token=)"),
        ("https://gitlab.com/api/v4/x.zip?private_token=t0k3n", "t0k3n", "(private_token=)"),
        (
            "https://b.s3.amazonaws.com/p.zip?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAX&X-Amz-Signature=abcdef",
            "abcdef",
            "(X-Amz-Signature=)",
        ),
        ("https://b.s3.amazonaws.com/p.zip?X-Amz-Security-Token=sess10n", "sess10n", "(X-Amz-Security-Token=)"),
        ("https://storage.googleapis.com/b/p.zip?X-Goog-Signature=abcdef", "abcdef", "(X-Goog-Signature=)"),
        ("https://acct.blob.core.windows.net/c/p.zip?sv=2022-11-02&sig=abcdef", "abcdef", "(sig=)"),
        ("https://h.example/p.zip?api_key=k3y", "k3y", "(api_key=)"),
    ];
    for (uri, secret, want) in cases {
        let r = run(&ws, &["lint-uri", uri]);
        assert_eq!(r.code, 1, "{uri}: {}", r.stdout);
        assert!(
            r.stdout.contains(want),
            "{uri}: want {want:?}\n{}",
            r.stdout
        );
        assert!(r.stdout.contains("REDACTED"), "{}", r.stdout);
        assert!(
            !r.stdout.contains(secret),
            "{uri}: secret echoed\n{}",
            r.stdout
        );
        assert!(
            r.stdout.contains("raytls netrc set")
                && r.stdout.contains("RAY_RUNTIME_ENV_BEARER_TOKEN"),
            "{}",
            r.stdout
        );
    }
}

#[test]
fn lint_uri_passes_clean_uris() {
    let ws = Workspace::new();
    let r = run(
        &ws,
        &[
            "lint-uri",
            "https://github.com/org/repo/archive/refs/heads/main.zip",
            "s3://bucket/pkg.zip",
            "gs://bucket/pkg.zip",
            "ssh://git@github.com/org/repo.git",
            "https://h.example/p.zip?ref=main&keyword=x",
            "./local_dir",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(
        r.stdout.lines().filter(|l| l.starts_with("ok: ")).count(),
        6
    );
}

#[test]
fn lint_uri_mixed_list_names_the_count_and_exits_1() {
    let ws = Workspace::new();
    let r = run(
        &ws,
        &[
            "lint-uri",
            "https://github.com/o/r.zip",
            "https://u:p@github.com/o/r.zip",
        ],
    );
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("ok: https://github.com/o/r.zip"));
    assert!(
        r.stdout.contains("1 of 2 URIs carries credentials"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("--machine github.com"), "{}", r.stdout);
}

#[test]
fn lint_uri_needs_a_uri_and_survives_odd_input() {
    let ws = Workspace::new();
    assert_eq!(run(&ws, &["lint-uri"]).code, 2);
    // Odd but harmless text passes (exit 0, echoed as given); the last one holds a
    // user:password@ and a token= and is flagged (exit 1) without echoing either.
    for (odd, code) in [
        ("", 0),
        ("%", 0),
        ("://", 0),
        ("@", 0),
        ("https://@/?&=#", 0),
        ("https://[::1", 0),
        ("x?%zz=1", 0),
        ("é://ü:ö@ä?token=ß", 1),
    ] {
        let r = run(&ws, &["lint-uri", odd]);
        assert_eq!(r.code, code, "{odd:?}: {r:#?}");
        if code == 0 {
            assert_eq!(r.stdout, format!("ok: {odd}\n"), "{odd:?}");
        }
    }
    let r = run(&ws, &["lint-uri", "é://ü:ö@ä?token=ß"]);
    assert!(
        r.stdout
            .contains("credentials: é://ü:REDACTED@ä?token=REDACTED: ")
            && !r.stdout.contains('ö')
            && !r.stdout.contains('ß'),
        "{}",
        r.stdout
    );
}

#[test]
fn regression_lint_uri_fragment_token_is_redacted() {
    let ws = Workspace::new();
    let r = run(&ws, &["lint-uri", "https://host/p.zip#access_token=SECRET"]);
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(
        r.stdout.contains(
            "credentials: https://host/p.zip#access_token=REDACTED: \
             a credential in the fragment (access_token=)"
        ),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("SECRET"), "{}", r.stdout);
    // A route with a query in the fragment, as single-page apps write it.
    let r = run(
        &ws,
        &["lint-uri", "https://h/app#/cb?state=1&id_token=SECRET"],
    );
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(!r.stdout.contains("SECRET"), "{}", r.stdout);
    // A plain anchor is not a credential.
    assert_eq!(run(&ws, &["lint-uri", "https://h/README.md#setup"]).code, 0);
}

#[test]
fn lint_uri_escapes_control_characters_in_what_it_prints() {
    let ws = Workspace::new();
    let r = run(
        &ws,
        &[
            "lint-uri",
            "https://h/\x1b[2K\rOK.zip",
            "https://u:p@h/\x1b]0;x\x07",
        ],
    );
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(
        !r.stdout.contains('\x1b') && !r.stdout.contains('\r'),
        "{:?}",
        r.stdout
    );
    assert!(
        r.stdout.contains("ok: https://h/\\x1b[2K\\x0dOK.zip\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("REDACTED@h/\\x1b]0;x\\x07: "),
        "{}",
        r.stdout
    );
}

#[test]
fn lint_uri_output_to_a_closed_pipe_does_not_panic() {
    let ws = Workspace::new();
    let mut cmd = raytls(&ws, &[]).command();
    let many: Vec<String> = (0..20000).map(|i| format!("https://h/{i}.zip")).collect();
    cmd.arg("lint-uri")
        .args(&many)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    drop(child.stdout.take()); // the reader goes away, as with `| head -1`
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

// ---------------------------------------------------------------- completions, man, help

#[test]
fn completions_generate_for_bash_zsh_fish() {
    let ws = Workspace::new();
    for shell in ["bash", "zsh", "fish"] {
        let r = run(&ws, &["completions", shell]);
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        assert!(r.stdout.contains("raytls"), "{shell}");
        assert!(r.stdout.contains("lint-uri"), "{shell} lacks a subcommand");
    }
    assert_eq!(run(&ws, &["completions", "tcsh"]).code, 2);
}

#[test]
fn completions_bash_script_sources_and_completes_subcommands() {
    let ws = Workspace::new();
    let r = run(&ws, &["completions", "bash"]);
    assert_eq!(r.code, 0);
    fs::write(ws.join("raytls.bash"), &r.stdout).expect("write script");
    let script = "set -e; source ./raytls.bash; complete -p raytls; \
                  COMP_WORDS=(raytls to); COMP_CWORD=1; COMP_LINE='raytls to'; COMP_POINT=9; \
                  _raytls raytls to raytls; echo \"reply: ${COMPREPLY[*]}\"";
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-c", script])
        .current_dir(ws.path())
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("-F _raytls raytls"), "{stdout}");
    assert!(stdout.contains("reply: token"), "{stdout}");
}

/// The completion script for `shell` passes the shell's own syntax check. A missing shell
/// fails the test (scripts/test.sh installs zsh and fish) rather than skipping it as a pass.
fn completion_script_parses(shell: &str, check_flag: &str) {
    let ws = Workspace::new();
    let r = run(&ws, &["completions", shell]);
    assert_eq!(r.code, 0, "{r:#?}");
    let file = ws.join(format!("c.{shell}"));
    fs::write(&file, &r.stdout).expect("write");
    let out = Command::new(shell)
        .arg(check_flag)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shell} ({e}): install it (scripts/test.sh does)"));
    assert!(
        out.status.success(),
        "{shell}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn completions_zsh_script_parses() {
    completion_script_parses("zsh", "-n");
}

#[test]
fn completions_fish_script_parses() {
    completion_script_parses("fish", "--no-execute");
}

#[test]
fn man_page_renders_and_out_dir_writes_one_page_per_subcommand() {
    let ws = Workspace::new();
    let r = run(&ws, &["man"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(".TH raytls 1"),
        "{}",
        &r.stdout[..200.min(r.stdout.len())]
    );
    assert!(r.stdout.contains("lint\\-uri"));

    let r = run(&ws, &["man", "--out-dir", "man1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for page in [
        "raytls.1",
        "raytls-token.1",
        "raytls-token-generate.1",
        "raytls-netrc-set.1",
        "raytls-netrc-check.1",
        "raytls-lint-uri.1",
        "raytls-completions.1",
        "raytls-man.1",
    ] {
        let p = ws.join("man1").join(page);
        assert!(p.exists(), "{page} missing: {}", r.stdout);
        assert_eq!(mode(&p), 0o644);
    }
    let again = run(&ws, &["man", "--out-dir", "man1"]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("pass --force"), "{}", again.stderr);
    assert_eq!(run(&ws, &["man", "--out-dir", "man1", "--force"]).code, 0);
    assert_eq!(run(&ws, &["man", "--force"]).code, 2);
}

#[test]
fn help_of_every_kit_subcommand_ends_with_examples_of_real_command_lines() {
    let ws = Workspace::new();
    for sub in [
        vec!["token"],
        vec!["token", "generate"],
        vec!["netrc"],
        vec!["netrc", "set"],
        vec!["netrc", "check"],
        vec!["lint-uri"],
        vec!["completions"],
        vec!["man"],
    ] {
        let mut args = sub.clone();
        args.push("--help");
        let r = run(&ws, &args);
        assert_eq!(r.code, 0, "{sub:?}");
        let examples = r
            .stdout
            .rsplit_once("\nEXAMPLES:\n")
            .map(|(_, e)| e)
            .unwrap_or_else(|| panic!("{sub:?} --help has no EXAMPLES section:\n{}", r.stdout));
        // Nothing but the examples after the header: no later section.
        assert!(
            examples
                .lines()
                .all(|l| l.is_empty() || l.starts_with("  ")),
            "{sub:?}: EXAMPLES is not the last section"
        );
        let commands: Vec<&str> = examples
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        assert!(
            commands
                .iter()
                .any(|l| l.contains(&format!("raytls {}", sub.join(" ")))),
            "{sub:?}: no example runs it:\n{examples}"
        );
    }
}
