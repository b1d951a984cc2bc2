//! `raytls ca create` and `raytls ca trust` (the trust bundle of a CA rotation).
use crate::error::Result;
use crate::exit_code::ExitCode;
use crate::pki::authority::{self, DEFAULT_CA_DAYS, DEFAULT_CA_NAME};
use crate::pki::certinfo::date;
use crate::pki::keys::KeyType;
use crate::pki::trust::{self, TRUST_FILE};
use crate::provision::files::{self, OutFile, Overwrite};
use crate::text::escape;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(
    after_help = "EXAMPLES:\n  raytls ca create --out ./ca\n  raytls ca create --out ./ca --key-type ecdsa-p384 --name \"prod-ray CA\" --days 1825\n  raytls ca trust --ca ./ca --add ./ca-new     # CA rotation: pods trust old + new\n\nSee `raytls ca create --help` for what the CA holds, `raytls ca trust --help` and\ndocs/ca-rotation.md for rotating it."
)]
pub struct CaArgs {
    #[command(subcommand)]
    pub command: CaCommand,
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create a self-signed CA: DIR/ca.crt and DIR/ca.key (0600)
    #[command(after_help = CA_CREATE_EXAMPLES)]
    Create(CaCreateArgs),
    /// Show or change the roots pods trust (DIR/trust.crt, every pod's ca.crt): CA rotation
    #[command(after_help = CA_TRUST_EXAMPLES)]
    Trust(CaTrustArgs),
}

const CA_TRUST_EXAMPLES: &str = "\
A CA directory may hold trust.crt: the roots every pod trusts. `init`, `issue` and `renew`
with --ca DIR write it as the pod's ca.crt, and `raytls serve --ca DIR` hands it out as the
CA bundle. Without it pods trust the CA's own root alone. Roots only (self-signed CAs, valid
now), no private keys, and never two roots with one subject (Ray's TLS then reports a bad
signature). The file is kept oldest root first, so one set always makes the same bytes.

CA rotation, three steps (docs/ca-rotation.md); Ray reads ca.crt only when a process starts,
so after each step restart every Ray process before the next:
  1. every pod trusts old + new       raytls ca trust --ca ./ca-old --add ./ca-new
                                      raytls ca trust --ca ./ca-new --add ./ca-old
                                      raytls renew --dir /etc/ray/tls --ca ./ca-old   # ca.crt only
  2. leaves from the new CA           raytls renew --dir /etc/ray/tls --ca ./ca-new   # re-issues
  3. drop the old root                raytls ca trust --ca ./ca-new --drop ./ca-old
                                      raytls renew --dir /etc/ray/tls --ca ./ca-new   # ca.crt only
`raytls verify --dir /etc/ray/tls` says which step a pod is at.

EXAMPLES:
  # What do pods of this CA trust?
  raytls ca trust --ca ./ca

  # Trust a new CA's root next to ours (a file or a CA directory: its root.crt, else ca.crt)
  raytls ca trust --ca ./ca --add ./ca-new/ca.crt

  # The end of a rotation: the new CA's pods stop trusting the old root
  raytls ca trust --ca ./ca-new --drop ./ca-old/ca.crt --json";

#[derive(Debug, Args)]
pub struct CaTrustArgs {
    /// The CA directory (ca.crt, and root.crt above an intermediate) whose trust.crt to show
    /// or change
    #[arg(long = "ca", value_name = "DIR")]
    pub dir: PathBuf,
    /// Trust the root(s) in FILE, or in a CA directory's root.crt (else ca.crt) (repeatable)
    #[arg(long, value_name = "FILE|DIR")]
    pub add: Vec<PathBuf>,
    /// Stop trusting the root(s) in FILE or a CA directory (repeatable); this CA's own root
    /// cannot be dropped
    #[arg(long, value_name = "FILE|DIR")]
    pub drop: Vec<PathBuf>,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

const CA_CREATE_EXAMPLES: &str = "\
EXAMPLES:
  # A CA for a cluster, then store it as the Secret KubeRay's TLS sample mounts at /etc/ca/tls
  raytls ca create --out ./ca
  kubectl create secret generic ca-tls --from-file=ca.crt=./ca/ca.crt --from-file=ca.key=./ca/ca.key

  # A P-384 CA named after its cluster, valid 5 years
  raytls ca create --out ./ca --key-type ecdsa-p384 --name \"prod-ray CA\" --days 1825

  # An offline root, and a signing CA under it for `raytls serve` (the root key stays offline)
  raytls ca create --out ./root
  raytls ca create --intermediate --ca ./root --out ./signing
  # -> signing/ca.crt (intermediate), signing/ca.key (0600), signing/root.crt (no key)

The subject gets a random suffix (\"raytls CA 3f9c1a2b\"): two CAs with the same subject
make Ray report a bad signature instead of an unknown CA. An existing CA (e.g. one made with
openssl, RSA or EC) needs no import: pass its directory to `raytls issue --ca DIR`.";

#[derive(Debug, Args)]
pub struct CaCreateArgs {
    /// Output directory (created 0700 if missing)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Key type of the CA key
    #[arg(long, value_enum, default_value_t = KeyType::EcdsaP256)]
    pub key_type: KeyType,
    /// Validity in days
    #[arg(long, default_value_t = DEFAULT_CA_DAYS, value_name = "N")]
    pub days: u32,
    /// Subject common name; a random suffix keeps every CA's subject unique
    #[arg(long, default_value = DEFAULT_CA_NAME, value_name = "TEXT")]
    pub name: String,
    /// Make an intermediate CA signed by the root in --ca ROOT_DIR; writes DIR/ca.crt,
    /// DIR/ca.key and DIR/root.crt (the root's certificate, no key)
    #[arg(long, requires = "root")]
    pub intermediate: bool,
    /// The root CA directory (ca.crt, ca.key) that signs the intermediate
    #[arg(long = "ca", value_name = "ROOT_DIR", requires = "intermediate")]
    pub root: Option<PathBuf>,
    /// Overwrite an existing ca.crt / ca.key
    #[arg(long)]
    pub force: bool,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: CaArgs) -> Result<ExitCode> {
    match args.command {
        CaCommand::Create(a) => create(a),
        CaCommand::Trust(a) => trust(a),
    }
}

fn create(a: CaCreateArgs) -> Result<ExitCode> {
    let mut files = vec![OutFile::public("ca.crt", ""), OutFile::secret("ca.key", "")];
    if a.intermediate {
        files.push(OutFile::public(authority::ROOT_FILE, ""));
    }
    files::check_targets(&a.out, &files, Overwrite::from_force(a.force))?;
    let now = super::now();
    let (ca, root_pem) = match &a.root {
        Some(root_dir) if a.intermediate => {
            let root = authority::Authority::load(&authority::CaFiles::in_dir(root_dir), now)?;
            let new = authority::create_intermediate(&root, &a.name, a.key_type, a.days, now)?;
            if let Some(note) = &new.clamped {
                eprintln!("raytls: note: {note}");
            }
            (new.ca, Some(new.root_pem))
        }
        _ => (
            authority::create_ca(&a.name, a.key_type, a.days, now)?,
            None,
        ),
    };
    let mut out = vec![
        OutFile::public("ca.crt", ca.cert_pem.clone()),
        OutFile::secret("ca.key", ca.key.pem()),
    ];
    if let Some(root_pem) = &root_pem {
        out.push(OutFile::public(authority::ROOT_FILE, root_pem.clone()));
    }
    let written = files::write_files(&a.out, &out, Overwrite::from_force(a.force))?;
    let (cert, key) = (
        written[0].display().to_string(),
        written[1].display().to_string(),
    );
    if a.json {
        let v = serde_json::json!({
            "cert": cert, "key": key, "subject": ca.info.subject,
            "key_type": ca.info.public_key.to_string(), "serial": ca.info.serial,
            "not_after": date(ca.info.not_after), "sha256_fingerprint": ca.info.sha256_fingerprint,
        });
        crate::outln!("{v}");
    } else {
        crate::outln!(
            "created {}CA {cert}: \"{}\", {}, expires {}",
            if root_pem.is_some() {
                "intermediate "
            } else {
                ""
            },
            ca.info.display_name(),
            ca.info.public_key,
            date(ca.info.not_after)
        );
        crate::outln!(
            "wrote {key} (CA private key, mode 0600: keep it out of worker pods where you can)"
        );
        if let Some(root) = written.get(2) {
            crate::outln!(
                "wrote {} (the root's certificate, no key: what Ray pods trust as ca.crt)",
                root.display().to_string()
            );
        }
    }
    Ok(ExitCode::Ok)
}

fn trust(a: CaTrustArgs) -> Result<ExitCode> {
    let now = super::now();
    let change = trust::change_bundle(&a.dir, &a.add, &a.drop, now)?;
    let written = if change.changed {
        let out = [OutFile::public(TRUST_FILE, change.bundle.pem())];
        files::write_files(&a.dir, &out, Overwrite::Replace)?;
        true
    } else {
        false
    };
    let file = a.dir.join(TRUST_FILE);
    let own = |r: &trust::Root| r.der.as_ref() == change.own_root.der.as_ref();
    if a.json {
        let roots: Vec<_> = change
            .bundle
            .roots()
            .iter()
            .map(|r| {
                serde_json::json!({
                    "subject": r.info.subject, "sha256_fingerprint": r.info.sha256_fingerprint,
                    "not_before": date(r.info.not_before), "not_after": date(r.info.not_after),
                    "own": own(r),
                })
            })
            .collect();
        let v = serde_json::json!({
            "trust_file": file.display().to_string(), "written": written,
            "added": change.added, "dropped": change.dropped,
            "already_trusted": change.already, "not_trusted": change.absent,
            "roots": roots,
        });
        crate::outln!("{v}");
        return Ok(ExitCode::Ok);
    }
    for s in &change.added {
        crate::outln!("added \"{}\"", escape::escape(s));
    }
    for s in &change.dropped {
        crate::outln!("dropped \"{}\"", escape::escape(s));
    }
    for s in &change.already {
        crate::outln!("already trusted: \"{}\"", escape::escape(s));
    }
    for s in &change.absent {
        crate::outln!("not trusted, nothing to drop: \"{}\"", escape::escape(s));
    }
    for r in change.bundle.roots() {
        crate::outln!(
            "trusts {}{}",
            escape::escape(&trust::describe(r)),
            if own(r) { " (this CA's root)" } else { "" }
        );
    }
    let n = change.bundle.roots().len();
    if written {
        crate::outln!(
            "wrote {} ({n} root{}): pods get it as ca.crt at their next `raytls init`/`renew --ca {}`; restart Ray on each pod to load it",
            file.display(),
            if n == 1 { "" } else { "s" },
            a.dir.display()
        );
    } else {
        crate::outln!(
            "{}: unchanged ({n} root{})",
            file.display(),
            if n == 1 { "" } else { "s" }
        );
    }
    Ok(ExitCode::Ok)
}
