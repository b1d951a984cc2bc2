//! `raytls quickstart`: a CA, a head and a worker certificate in one directory.
use crate::error::Result;
use crate::exit_code::ExitCode;
use crate::pki::authority::{self, Authority, CaFiles, Lifetime};
use crate::pki::certinfo::date;
use crate::pki::keys::KeyType;
use crate::pki::role::{LeafIdentity, Role};
use crate::pki::san::{parse_pod_ip, San};
use crate::provision;
use crate::provision::files::{self, OutFile, Overwrite};
use crate::provision::Source;
use clap::Args;
use std::path::PathBuf;

const QUICKSTART_EXAMPLES: &str = "\
Makes DIR/ca (a new CA, or the one already there), then runs `init head` into DIR/head and
`init worker` into DIR/worker. Safe to run again: valid certificates are kept.

EXAMPLES:
  raytls quickstart
  raytls quickstart --out /tmp/rt --head-ip 10.0.0.5 --worker-ip 10.0.0.6";

#[derive(Debug, Args)]
#[command(after_help = QUICKSTART_EXAMPLES)]
pub struct QuickstartArgs {
    /// Output directory
    #[arg(long, value_name = "DIR", default_value = "raytls-quickstart")]
    pub out: PathBuf,
    /// The head pod's IP (default: a documentation address, 192.0.2.10)
    #[arg(long, value_name = "IP", default_value = "192.0.2.10")]
    pub head_ip: String,
    /// The worker pod's IP (default: a documentation address, 192.0.2.11)
    #[arg(long, value_name = "IP", default_value = "192.0.2.11")]
    pub worker_ip: String,
    /// The head service FQDN
    #[arg(
        long,
        value_name = "NAME",
        default_value = "raycluster-head-svc.default.svc.cluster.local"
    )]
    pub fqdn: String,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: QuickstartArgs) -> Result<ExitCode> {
    let now = super::now();
    // The defaults are documentation addresses (RFC 5737): fine for a demo, not for a pod.
    if a.head_ip.starts_with("192.0.2.") || a.worker_ip.starts_with("192.0.2.") {
        eprintln!(
            "raytls: note: the pod IPs are documentation addresses (192.0.2.x); pass --head-ip and --worker-ip for real pods"
        );
    }
    let head_ip = parse_pod_ip("--head-ip", &a.head_ip)?;
    let worker_ip = parse_pod_ip("--worker-ip", &a.worker_ip)?;
    let fqdn = San::parse("--fqdn", &a.fqdn)?;
    let ca_dir = a.out.join("ca");
    let ca_files = CaFiles::in_dir(&ca_dir);
    if !ca_files.cert.exists() {
        let ca = authority::create_ca(
            authority::DEFAULT_CA_NAME,
            KeyType::EcdsaP256,
            authority::DEFAULT_CA_DAYS,
            now,
        )?;
        files::write_files(
            &ca_dir,
            &[
                OutFile::public("ca.crt", ca.cert_pem.clone()),
                OutFile::secret("ca.key", ca.key.pem()),
            ],
            Overwrite::Refuse,
        )?;
        if !a.json {
            crate::outln!(
                "created CA {}: \"{}\", expires {}",
                ca_files.cert.display(),
                ca.info.display_name(),
                date(ca.info.not_after)
            );
        }
    } else if !a.json {
        crate::outln!("using CA {}", ca_files.cert.display());
    }
    let ca = Authority::load(&ca_files, now)?;
    let head = LeafIdentity::new(Role::Head, Some(head_ip), Some(fqdn), None, vec![])?;
    let worker = LeafIdentity::new(Role::Worker, Some(worker_ip), None, None, vec![])?;
    let mut outcomes = Vec::new();
    for (identity, dir) in [(head, "head"), (worker, "worker")] {
        let source = Source::Local {
            ca: &ca,
            identity: &identity,
            key_type: KeyType::EcdsaP256,
            lifetime: Lifetime::from_flag(None),
        };
        let o = provision::init_dir(&source, &a.out.join(dir), now)?;
        if !a.json {
            super::outcome::print(&o, false);
        }
        outcomes.push(o);
    }
    if a.json {
        crate::outln!("{}", serde_json::to_string(&outcomes).unwrap_or_default());
    } else {
        crate::outln!(
            "next: raytls env --dir {} --format shell   (or start Ray with {}/ray-tls.env)",
            a.out.join("head").display(),
            a.out.join("head").display()
        );
    }
    Ok(ExitCode::Ok)
}
