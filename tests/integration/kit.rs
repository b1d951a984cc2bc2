//! The deployment kit: token, netrc, lint-uri, completions, man. Every test runs the real
//! binary in a temp dir with HOME and NETRC pointed there (never the real ~/.netrc) and
//! checks what a user sees: exit code, stdout/stderr, the files left and their modes.
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A temp HOME; `run` executes raytls with HOME there and NETRC unset.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_raytls"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env_remove("NETRC");
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        finish(self.cmd(args))
    }

    fn run_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut cmd = self.cmd(args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn raytls");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        output(child.wait_with_output().expect("wait raytls"))
    }

    fn write(&self, name: &str, text: &str, mode: u32) -> PathBuf {
        let p = self.path(name);
        fs::write(&p, text).expect("write fixture");
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).expect("chmod fixture");
        p
    }

    fn read(&self, name: &str) -> String {
        fs::read_to_string(self.path(name)).expect("read output")
    }
}

fn finish(mut cmd: Command) -> Run {
    output(cmd.output().expect("run raytls"))
}

fn output(out: std::process::Output) -> Run {
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "raytls panicked: {}",
        run.stderr
    );
    run
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("stat").permissions().mode() & 0o777
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
    let sb = Sandbox::new();
    let a = sb.run(&["token", "generate"]);
    let b = sb.run(&["token", "generate"]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert!(a.stdout.ends_with('\n'));
    assert!(is_base64_token(a.stdout.trim_end()), "{:?}", a.stdout);
    assert_ne!(a.stdout, b.stdout, "two tokens must differ");
}

#[test]
fn token_generate_out_writes_0600_and_refuses_to_overwrite() {
    let sb = Sandbox::new();
    let r = sb.run(&["token", "generate", "--out", "auth_token"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("(mode 0600)"));
    assert_eq!(mode(&sb.path("auth_token")), 0o600);
    let first = sb.read("auth_token");
    assert!(is_base64_token(first.trim_end()));

    let again = sb.run(&["token", "generate", "--out", "auth_token"]);
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains("already exists; pass --force"),
        "{}",
        again.stderr
    );
    assert_eq!(
        sb.read("auth_token"),
        first,
        "refused write left the file alone"
    );

    let forced = sb.run(&["token", "generate", "--out", "auth_token", "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_ne!(sb.read("auth_token"), first);
    assert_eq!(mode(&sb.path("auth_token")), 0o600);
    let names: Vec<_> = fs::read_dir(sb.dir.path())
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["auth_token"], "no temp files left behind");
}

#[test]
fn token_generate_k8s_secret_manifest() {
    let sb = Sandbox::new();
    let r = sb.run(&[
        "token",
        "generate",
        "--k8s-secret",
        "ray-auth-token",
        "--namespace",
        "ray",
    ]);
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
    let sb = Sandbox::new();
    let r = sb.run(&[
        "token",
        "generate",
        "--k8s-secret",
        "tok",
        "--out",
        "s.yaml",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(mode(&sb.path("s.yaml")), 0o600);
    assert!(sb.read("s.yaml").contains("kind: Secret"));
    assert!(r.stdout.contains("Kubernetes Secret tok"));
}

#[test]
fn token_generate_rejects_bad_names_and_flag_combinations() {
    let sb = Sandbox::new();
    let r = sb.run(&["token", "generate", "--k8s-secret", "Ray_Token"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("--k8s-secret=\"Ray_Token\"") && r.stderr.contains("lowercase"),
        "{}",
        r.stderr
    );
    let r = sb.run(&[
        "token",
        "generate",
        "--k8s-secret",
        "t",
        "--namespace",
        "a.b",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--namespace"), "{}", r.stderr);
    // --namespace only means something for a Secret, --force only with --out.
    assert_eq!(sb.run(&["token", "generate", "--namespace", "ray"]).code, 2);
    assert_eq!(sb.run(&["token", "generate", "--force"]).code, 2);
    assert_eq!(sb.run(&["token"]).code, 2);
}

#[test]
fn token_generate_out_into_a_file_path_that_is_a_directory_fails() {
    let sb = Sandbox::new();
    fs::create_dir(sb.path("d")).expect("mkdir");
    let r = sb.run(&["token", "generate", "--out", "d"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
}

// ---------------------------------------------------------------- netrc

fn netrc_set(sb: &Sandbox, extra: &[&str]) -> Run {
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
    sb.run(&args)
}

#[test]
fn netrc_set_creates_home_netrc_0600() {
    let sb = Sandbox::new();
    sb.write("pw", "ghp_secret123\n", 0o600);
    let r = netrc_set(&sb, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("added machine github.com"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("ghp_secret123"));
    assert_eq!(
        sb.read(".netrc"),
        "machine github.com\nlogin alice\npassword ghp_secret123\n"
    );
    assert_eq!(mode(&sb.path(".netrc")), 0o600);
}

#[test]
fn netrc_set_updates_one_entry_and_leaves_the_rest_byte_for_byte() {
    let sb = Sandbox::new();
    let before = "# work\nmachine gitlab.com login bob password glpat-1\n\n\
                  machine github.com\n    login old\n    password oldpw\n# keep me\nmacdef init\ncd /x\n\n\
                  default login anonymous password guest\n";
    sb.write(".netrc", before, 0o600);
    sb.write("pw", "newpw\n", 0o600);
    let r = netrc_set(&sb, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("updated machine github.com"),
        "{}",
        r.stdout
    );
    assert_eq!(
        sb.read(".netrc"),
        "# work\nmachine gitlab.com login bob password glpat-1\n\n\
         machine github.com\nlogin alice\npassword newpw\n# keep me\nmacdef init\ncd /x\n\n\
         default login anonymous password guest\n"
    );
}

#[test]
fn netrc_set_inserts_before_default_and_removes_duplicates() {
    let sb = Sandbox::new();
    sb.write(
        ".netrc",
        "machine github.com login a password 1\nmachine github.com login b password 2\n",
        0o600,
    );
    sb.write("pw", "3", 0o600);
    let r = netrc_set(&sb, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("removed 1 duplicate entry"),
        "{}",
        r.stdout
    );
    assert_eq!(
        sb.read(".netrc"),
        "machine github.com\nlogin alice\npassword 3\n"
    );

    let sb = Sandbox::new();
    sb.write(".netrc", "default login anonymous password x\n", 0o600);
    sb.write("pw", "3", 0o600);
    assert_eq!(netrc_set(&sb, &[]).code, 0);
    assert_eq!(
        sb.read(".netrc"),
        "machine github.com\nlogin alice\npassword 3\n\ndefault login anonymous password x\n"
    );
}

#[test]
fn netrc_set_uses_netrc_env_then_file_flag() {
    let sb = Sandbox::new();
    sb.write("pw", "tok", 0o600);
    let mut cmd = sb.cmd(&[
        "netrc",
        "set",
        "--machine",
        "h.example",
        "--login",
        "u",
        "--password-file",
        "pw",
    ]);
    cmd.env("NETRC", sb.path("from-env"));
    let r = finish(cmd);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(sb.read("from-env").contains("machine h.example"));
    assert!(!sb.path(".netrc").exists());

    let r = netrc_set(&sb, &["--file", "explicit"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(mode(&sb.path("explicit")), 0o600);
}

#[test]
fn netrc_set_tightens_a_loose_mode() {
    let sb = Sandbox::new();
    sb.write(".netrc", "machine a.com login u password p\n", 0o644);
    sb.write("pw", "x", 0o600);
    assert_eq!(netrc_set(&sb, &[]).code, 0);
    assert_eq!(mode(&sb.path(".netrc")), 0o600);
}

#[test]
fn netrc_set_reads_the_password_from_stdin() {
    let sb = Sandbox::new();
    let r = sb.run_stdin(
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
        "glpat-abc\nsecond line ignored\n",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(sb.read(".netrc").contains("password glpat-abc\n"));
}

#[test]
fn netrc_set_follows_a_symlink() {
    let sb = Sandbox::new();
    let real = sb.write(
        "dotfiles-netrc",
        "machine a.com login u password p\n",
        0o600,
    );
    std::os::unix::fs::symlink(&real, sb.path(".netrc")).expect("symlink");
    sb.write("pw", "x", 0o600);
    assert_eq!(netrc_set(&sb, &[]).code, 0);
    assert!(fs::symlink_metadata(sb.path(".netrc"))
        .expect("lstat")
        .file_type()
        .is_symlink());
    assert!(sb.read("dotfiles-netrc").contains("machine github.com"));
}

#[test]
fn netrc_set_rejects_values_readers_would_mangle_without_echoing_the_password() {
    let sb = Sandbox::new();
    sb.write("pw", "two words\n", 0o600);
    let r = netrc_set(&sb, &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--password-file"), "{}", r.stderr);
    assert!(!r.stderr.contains("two words"), "{}", r.stderr);
    assert!(!sb.path(".netrc").exists());

    sb.write("pw", "\n", 0o600);
    let r = netrc_set(&sb, &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("empty"), "{}", r.stderr);

    sb.write("pw", "ok", 0o600);
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
        let r = sb.run(&[
            "netrc",
            "set",
            "--machine",
            machine,
            "--login",
            login,
            "--password-file",
            "pw",
        ]);
        assert_eq!(r.code, 2, "{flag} {bad}: {}", r.stderr);
        assert!(r.stderr.contains(flag), "{}", r.stderr);
    }
    let r = sb.run(&[
        "netrc",
        "set",
        "--machine",
        "h",
        "--login",
        "u",
        "--password-file",
        "missing",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("cannot read missing"), "{}", r.stderr);
}

#[test]
fn netrc_set_refuses_to_edit_a_malformed_file() {
    let sb = Sandbox::new();
    let before = "machine a.com\nuser bob\npassword p\n";
    sb.write(".netrc", before, 0o600);
    sb.write("pw", "x", 0o600);
    let r = netrc_set(&sb, &[]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(":2: `user` is not a netrc keyword") && r.stderr.contains("netrc check"),
        "{}",
        r.stderr
    );
    assert_eq!(sb.read(".netrc"), before);
}

#[test]
fn netrc_check_passes_a_clean_file() {
    let sb = Sandbox::new();
    sb.write(
        ".netrc",
        "# c\nmachine github.com login a password p\nmachine [::1] login b password q\n",
        0o600,
    );
    let r = sb.run(&["netrc", "check"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("ok: ") && r.stdout.contains("2 machine entries, mode 0600"));
}

#[test]
fn netrc_check_reports_a_loose_mode() {
    let sb = Sandbox::new();
    sb.write(".netrc", "machine a.com login u password p\n", 0o644);
    let r = sb.run(&["netrc", "check"]);
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
        let sb = Sandbox::new();
        sb.write(".netrc", text, 0o600);
        let r = sb.run(&["netrc", "check"]);
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
    let sb = Sandbox::new();
    let r = sb.run(&["netrc", "check"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("does not exist") && r.stderr.contains("raytls netrc set"),
        "{}",
        r.stderr
    );
    let mut cmd = sb.cmd(&["netrc", "check"]);
    cmd.env_remove("HOME");
    let r = finish(cmd);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("--file") && r.stderr.contains("NETRC"),
        "{}",
        r.stderr
    );
}

#[test]
fn netrc_check_follows_netrc_env() {
    let sb = Sandbox::new();
    sb.write("n", "machine a login u password p\n", 0o600);
    let mut cmd = sb.cmd(&["netrc", "check"]);
    cmd.env("NETRC", sb.path("n"));
    let r = finish(cmd);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("1 machine entry"));
}

#[test]
fn netrc_check_does_not_panic_on_binary_or_non_utf8() {
    let sb = Sandbox::new();
    fs::write(sb.path(".netrc"), [0xff, 0xfe, b'\n', 0]).expect("write");
    fs::set_permissions(sb.path(".netrc"), fs::Permissions::from_mode(0o600)).expect("chmod");
    let r = sb.run(&["netrc", "check"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("cannot read"), "{}", r.stderr);
}

// ---------------------------------------------------------------- lint-uri

#[test]
fn lint_uri_flags_each_kind_of_embedded_credential() {
    let sb = Sandbox::new();
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
        let r = sb.run(&["lint-uri", uri]);
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
    let sb = Sandbox::new();
    let r = sb.run(&[
        "lint-uri",
        "https://github.com/org/repo/archive/refs/heads/main.zip",
        "s3://bucket/pkg.zip",
        "gs://bucket/pkg.zip",
        "ssh://git@github.com/org/repo.git",
        "https://h.example/p.zip?ref=main&keyword=x",
        "./local_dir",
    ]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(
        r.stdout.lines().filter(|l| l.starts_with("ok: ")).count(),
        6
    );
}

#[test]
fn lint_uri_mixed_list_names_the_count_and_exits_1() {
    let sb = Sandbox::new();
    let r = sb.run(&[
        "lint-uri",
        "https://github.com/o/r.zip",
        "https://u:p@github.com/o/r.zip",
    ]);
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
    let sb = Sandbox::new();
    assert_eq!(sb.run(&["lint-uri"]).code, 2);
    for odd in [
        "",
        "%",
        "://",
        "@",
        "https://@/?&=#",
        "https://[::1",
        "x?%zz=1",
        "é://ü:ö@ä?token=ß",
    ] {
        let r = sb.run(&["lint-uri", odd]);
        assert!(r.code == 0 || r.code == 1, "{odd:?}: {}", r.stderr);
    }
}

#[test]
fn lint_uri_output_to_a_closed_pipe_does_not_panic() {
    let sb = Sandbox::new();
    let mut cmd = sb.cmd(&[]);
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
    let sb = Sandbox::new();
    for shell in ["bash", "zsh", "fish"] {
        let r = sb.run(&["completions", shell]);
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        assert!(r.stdout.contains("raytls"), "{shell}");
        assert!(r.stdout.contains("lint-uri"), "{shell} lacks a subcommand");
    }
    assert_eq!(sb.run(&["completions", "tcsh"]).code, 2);
}

#[test]
fn completions_bash_script_sources_and_completes_subcommands() {
    let sb = Sandbox::new();
    let r = sb.run(&["completions", "bash"]);
    assert_eq!(r.code, 0);
    fs::write(sb.path("raytls.bash"), &r.stdout).expect("write script");
    let script = "set -e; source ./raytls.bash; complete -p raytls; \
                  COMP_WORDS=(raytls to); COMP_CWORD=1; COMP_LINE='raytls to'; COMP_POINT=9; \
                  _raytls raytls to raytls; echo \"reply: ${COMPREPLY[*]}\"";
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-c", script])
        .current_dir(sb.dir.path())
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

#[test]
fn completions_zsh_and_fish_parse_when_the_shells_exist() {
    let sb = Sandbox::new();
    for (shell, check) in [("zsh", vec!["-n"]), ("fish", vec!["--no-execute"])] {
        if Command::new(shell).arg("-c").arg("true").output().is_err() {
            eprintln!("{shell} not installed: syntax check skipped");
            continue;
        }
        let r = sb.run(&["completions", shell]);
        let file = sb.path(&format!("c.{shell}"));
        fs::write(&file, &r.stdout).expect("write");
        let out = Command::new(shell)
            .args(&check)
            .arg(&file)
            .output()
            .expect(shell);
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn man_page_renders_and_out_dir_writes_one_page_per_subcommand() {
    let sb = Sandbox::new();
    let r = sb.run(&["man"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(".TH raytls 1"),
        "{}",
        &r.stdout[..200.min(r.stdout.len())]
    );
    assert!(r.stdout.contains("lint\\-uri"));

    let r = sb.run(&["man", "--out-dir", "man1"]);
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
        let p = sb.path("man1").join(page);
        assert!(p.exists(), "{page} missing: {}", r.stdout);
        assert_eq!(mode(&p), 0o644);
    }
    let again = sb.run(&["man", "--out-dir", "man1"]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("pass --force"), "{}", again.stderr);
    assert_eq!(sb.run(&["man", "--out-dir", "man1", "--force"]).code, 0);
    assert_eq!(sb.run(&["man", "--force"]).code, 2);
}

#[test]
fn help_of_every_kit_subcommand_ends_with_examples_of_real_command_lines() {
    let sb = Sandbox::new();
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
        let r = sb.run(&args);
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
