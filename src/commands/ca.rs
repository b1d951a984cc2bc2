//! `raytls ca create`.
use crate::error::Result;
use crate::exit_code::ExitCode;
use crate::pki::authority::{self, DEFAULT_CA_DAYS, DEFAULT_CA_NAME};
use crate::pki::certinfo::date;
use crate::pki::keys::KeyType;
use crate::provision::files::{self, OutFile, Overwrite};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(
    after_help = "EXAMPLES:\n  raytls ca create --out ./ca\n  raytls ca create --out ./ca --key-type ecdsa-p384 --name \"prod-ray CA\" --days 1825\n\nSee `raytls ca create --help` for what the CA holds."
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
