//! One CA per RayCluster, derived, never stored (`raytls serve --kubernetes`).
//!
//! Every signer replica holds the same master key; the CA of the RayCluster with UID `U` is
//! derived from it with HKDF-SHA256 (ring): same master key and UID, same key, on every
//! replica, with no Secret to write. A deleted and recreated cluster has a new UID, hence a
//! new CA: the old cluster's certificates are not trusted by the new one.
//!
//! **The key is Ed25519**, not P-256. ring builds an ECDSA key only from a PKCS#8 document
//! that carries the public point, and offers no scalar multiplication to compute that point
//! from a derived scalar; an Ed25519 key is its 32-byte seed, so ring loads a derived one as it
//! is. Leaves keep the pod's own key (P-256 from `init`): only the CA's signature on them is
//! Ed25519, which gRPC's BoringSSL verifies (checked with grpcio 1.85: a P-256 leaf under an
//! Ed25519 intermediate anchor handshakes, a leaf of a sibling cluster CA is refused), as do
//! rustls/webpki, OpenSSL and Go.
//!
//! **The certificate is the same on every replica** in subject, key, serial, validity and
//! extensions; the signature over it comes from the signer's own CA key (ECDSA signatures
//! are randomized, so its bytes may differ between replicas). Peers match an anchor by
//! subject and key, and a pod's `tls.crt` is the leaf alone, so two pods of one cluster with
//! the CA from different replicas still trust each other.
//!
//! The cluster CA is issued by the signer's CA (pathlen 0): pods trust only their cluster's
//! CA (Ray accepts a partial chain, see RAY_TLS_NOTES), and a client can check with plain
//! X.509 that the CA it was given comes from the signer it trusts (`vouched_by`).
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SerialNumber,
};
use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::pki::authority::{Authority, CLOCK_SKEW};
use crate::pki::certinfo::CertInfo;

/// HKDF salt: names this derivation, so the master key used elsewhere gives other keys.
const SALT: &[u8] = b"raytls cluster CA v1";
/// The shortest master key accepted (256 bits of a `raytls token generate` token).
pub const MIN_MASTER_LEN: usize = 32;
/// The least estimated entropy a master key must have (`estimated_bits`).
pub const MIN_MASTER_BITS: f64 = 128.0;
/// X.509's upper bound on a common name.
const MAX_CN: usize = 64;

/// The master key every replica shares. Only the HKDF pseudo-random key is kept.
pub struct MasterKey {
    prk: ring::hkdf::Prk,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

struct Len(usize);

impl ring::hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// A key's entropy as raytls estimates it: its length times log2 of the number of distinct
/// bytes in it, i.e. the bits of a key of that length drawn at random from no more symbols
/// than it uses. `a` × 32 is 0 bits, `ab` × 16 is 32; random keys are far above 128: 44
/// base64 characters (`raytls token generate`, `openssl rand -base64 32`) need only 8
/// distinct symbols and 64 hex digits (`openssl rand -hex 32`) only 4. A filter for
/// placeholders and typed-in keys, not a proof of randomness (`0123456789abcdef` twice
/// passes): make the key with a generator.
pub fn estimated_bits(secret: &[u8]) -> f64 {
    let mut seen = [false; 256];
    for b in secret {
        seen[usize::from(*b)] = true;
    }
    let distinct = seen.iter().filter(|s| **s).count();
    if distinct <= 1 {
        return 0.0;
    }
    secret.len() as f64 * (distinct as f64).log2()
}

impl MasterKey {
    /// `source` names the input in the error (never the key). At least `MIN_MASTER_LEN`
    /// bytes and `MIN_MASTER_BITS` by `estimated_bits`.
    pub fn new(source: &str, secret: &[u8]) -> Result<Self> {
        const MAKE_ONE: &str = "make one with `raytls token generate --out FILE`";
        if secret.len() < MIN_MASTER_LEN {
            return Err(Error::Usage(format!(
                "{source}: the cluster master key is {} bytes; it must be at least {MIN_MASTER_LEN} ({MAKE_ONE})",
                secret.len()
            )));
        }
        let bits = estimated_bits(secret);
        if bits < MIN_MASTER_BITS {
            let distinct = secret
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            let what = if distinct == 1 {
                "one character repeated".to_string()
            } else {
                format!("{distinct} distinct characters")
            };
            return Err(Error::Usage(format!(
                "{source}: the cluster master key is too guessable: {} bytes of {what}, about {} bits by length x log2(distinct characters); it needs {MIN_MASTER_BITS} ({MAKE_ONE})",
                secret.len(),
                bits.floor()
            )));
        }
        Ok(MasterKey {
            prk: ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, SALT).extract(secret),
        })
    }

    /// HKDF-Expand with info = `label` 0x00 `uid`.
    fn expand<const N: usize>(&self, label: &[u8], uid: &str) -> [u8; N] {
        let mut out = [0u8; N];
        let info = [label, b"\0", uid.as_bytes()];
        // Only an output longer than 255 * 32 bytes fails; N is at most 32 here.
        if let Ok(okm) = self.prk.expand(&info, Len(N)) {
            let _ = okm.fill(&mut out);
        }
        out
    }

    /// The 32-byte Ed25519 seed of the cluster with this UID.
    pub fn seed(&self, uid: &str) -> [u8; 32] {
        self.expand(b"ed25519 seed", uid)
    }

    /// The cluster CA's key pair.
    pub fn key_pair(&self, uid: &str) -> Result<KeyPair> {
        // RFC 8410 PKCS#8 v1: SEQUENCE { INTEGER 0, AlgorithmIdentifier { id-Ed25519 },
        // OCTET STRING { OCTET STRING seed } }.
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        der.extend_from_slice(&self.seed(uid));
        KeyPair::from_pkcs8_der_and_sign_algo(&PrivatePkcs8KeyDer::from(der), &rcgen::PKCS_ED25519)
            .map_err(|e| Error::Internal {
                what: "load a derived cluster CA key",
                why: e.to_string(),
            })
    }

    /// A positive 16-byte serial, the same on every replica.
    pub fn serial(&self, uid: &str) -> SerialNumber {
        let mut s: [u8; 16] = self.expand(b"serial", uid);
        s[0] = (s[0] & 0x7f) | 0x40;
        SerialNumber::from_slice(&s)
    }
}

/// The RayCluster a CA is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterRef<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
    pub created: OffsetDateTime,
}

/// `raytls cluster NS/NAME UID8`, at most 64 characters (the name part shortened): unique
/// per cluster through the UID, readable through the name.
pub fn common_name(c: &ClusterRef<'_>) -> String {
    let uid8: String = c.uid.chars().filter(|ch| *ch != '-').take(8).collect();
    let mut name = format!("{}/{}", c.namespace, c.name);
    let room = MAX_CN - "raytls cluster ".len() - 1 - uid8.len();
    if name.chars().count() > room {
        name = name.chars().take(room - 3).collect::<String>() + "...";
    }
    format!("raytls cluster {name} {uid8}")
}

/// A cluster's CA: its certificate, and an in-memory `Authority` that signs its leaves.
pub struct ClusterCa {
    pub cert_der: CertificateDer<'static>,
    pub info: CertInfo,
    pub authority: Authority,
}

/// Make the CA of `cluster`, issued by `signer` (which must allow a CA below it). Validity:
/// from the RayCluster's creation (5 minutes earlier, for clock skew) to the signer CA's own
/// end, so that every replica computes the same dates.
pub fn issue(
    signer: &Authority,
    master: &MasterKey,
    cluster: &ClusterRef<'_>,
) -> Result<ClusterCa> {
    let key = master.key_pair(cluster.uid)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "raytls");
    dn.push(DnType::CommonName, common_name(cluster));
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = (cluster.created - CLOCK_SKEW).max(signer.info.not_before);
    params.not_after = signer.info.not_after;
    params.serial_number = Some(master.serial(cluster.uid));
    let der = signer.sign_params(params, &key)?;
    let info = CertInfo::parse(&der).map_err(Error::Signing)?;
    let label = format!(
        "the CA of RayCluster {}/{}",
        cluster.namespace, cluster.name
    );
    let authority = Authority::in_memory(&label, der.clone(), key)?;
    Ok(ClusterCa {
        cert_der: der,
        info,
        authority,
    })
}

/// Is `ca` a CA certificate issued by one of `roots` (directly, or through `chain`, each
/// issued by the next)? What a client checks before it takes a cluster CA as its `ca.crt`:
/// the signer it authenticated with `--signer-ca` vouches for this CA by having signed it.
pub fn vouched_by(
    ca: &CertificateDer<'_>,
    chain: &[CertificateDer<'_>],
    roots: &[CertificateDer<'_>],
    now: OffsetDateTime,
) -> std::result::Result<(), String> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    fn parse(d: &[u8]) -> std::result::Result<X509Certificate<'_>, String> {
        X509Certificate::from_der(d)
            .map(|(_, c)| c)
            .map_err(|e| format!("not a certificate ({e})"))
    }
    let mut path = vec![parse(ca.as_ref())?];
    for c in chain {
        path.push(parse(c.as_ref())?);
    }
    let roots = roots
        .iter()
        .map(|r| parse(r.as_ref()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let t = x509_parser::time::ASN1Time::from_timestamp(now.unix_timestamp())
        .map_err(|e| e.to_string())?;
    for (i, c) in path.iter().enumerate() {
        if !c.is_ca() {
            return Err(format!("certificate {} is not a CA", i + 1));
        }
        if !c.validity().is_valid_at(t) {
            return Err(format!("certificate {} is not valid now", i + 1));
        }
        let issuer = path.get(i + 1);
        let ok = match issuer {
            Some(up) => {
                c.issuer() == up.subject() && c.verify_signature(Some(up.public_key())).is_ok()
            }
            None => roots.iter().any(|r| {
                c.issuer() == r.subject() && c.verify_signature(Some(r.public_key())).is_ok()
            }),
        };
        if !ok {
            return Err(match issuer {
                Some(_) => format!("certificate {} is not signed by the next one", i + 1),
                None => format!(
                    "\"{}\" is not signed by a CA in --signer-ca",
                    crate::text::escape::escape(&c.issuer().to_string())
                ),
            });
        }
    }
    Ok(())
}

/// Also the signer CA of signer::issue's tests.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::pki::authority::{create_ca, CaFiles, LeafSubject, Lifetime};
    use crate::pki::keys::{self, KeyType};
    use crate::pki::san::San;

    /// A distinct master key per `b` that passes the entropy check.
    fn master(b: u8) -> MasterKey {
        let key: Vec<u8> = (0..32u8)
            .map(|i| b.wrapping_add(i.wrapping_mul(7)))
            .collect();
        MasterKey::new("test", &key).unwrap()
    }

    /// A signer root (ECDSA P-256, 10 years) in a temporary directory, loaded.
    pub(crate) fn signer(now: OffsetDateTime) -> (tempfile::TempDir, Authority) {
        let dir = tempfile::tempdir().unwrap();
        let ca = create_ca("raytls signer", KeyType::EcdsaP256, 3650, now).unwrap();
        std::fs::write(dir.path().join("ca.crt"), &ca.cert_pem).unwrap();
        std::fs::write(dir.path().join("ca.key"), ca.key.pem()).unwrap();
        let a = Authority::load(&CaFiles::in_dir(dir.path()), now).unwrap();
        (dir, a)
    }

    fn cluster(uid: &str) -> ClusterRef<'_> {
        ClusterRef {
            namespace: "ray",
            name: "rc",
            uid,
            created: OffsetDateTime::now_utc() - time::Duration::hours(1),
        }
    }

    #[test]
    fn same_master_and_uid_give_the_same_key() {
        let (a, b) = (master(1), master(1));
        let uid = "7d3f4c1e-0000-4000-8000-000000000001";
        assert_eq!(a.seed(uid), b.seed(uid));
        assert_eq!(
            a.key_pair(uid).unwrap().public_key_pem(),
            b.key_pair(uid).unwrap().public_key_pem()
        );
        assert_eq!(a.serial(uid), b.serial(uid));
    }

    #[test]
    fn another_uid_or_master_gives_another_key() {
        let m = master(1);
        let one = m.key_pair("uid-1").unwrap().public_key_pem();
        assert_ne!(one, m.key_pair("uid-2").unwrap().public_key_pem());
        assert_ne!(one, master(2).key_pair("uid-1").unwrap().public_key_pem());
        assert_ne!(m.serial("uid-1"), m.serial("uid-2"));
        assert!(MasterKey::new("--cluster-key", &[0; 31]).is_err());
    }

    /// Two replicas (same master key, same signer CA) hand out equivalent CA certificates;
    /// a deleted and recreated cluster (same name, new UID) gets a CA the old leaves do not
    /// chain to.
    #[test]
    fn replicas_agree_and_a_recreated_cluster_gets_a_new_ca() {
        let now = OffsetDateTime::now_utc();
        let (_d, s) = signer(now);
        let uid1 = "11111111-aaaa-4000-8000-000000000001";
        let one = issue(&s, &master(7), &cluster(uid1)).unwrap();
        let again = issue(&s, &master(7), &cluster(uid1)).unwrap();
        for (x, y) in [
            (&one.info.subject, &again.info.subject),
            (&one.info.serial, &again.info.serial),
        ] {
            assert_eq!(x, y);
        }
        assert_eq!(one.info.spki_bits, again.info.spki_bits);
        assert_eq!(one.info.not_before, again.info.not_before);
        assert_eq!(one.info.not_after, again.info.not_after);
        assert_eq!(one.info.path_len, Some(0));
        assert!(
            one.info.subject.contains("raytls cluster ray/rc 11111111"),
            "{}",
            one.info.subject
        );
        vouched_by(&one.cert_der, &[], std::slice::from_ref(&s.cert_der), now).unwrap();

        // A leaf signed by one replica's CA verifies against the other replica's copy.
        let key = keys::generate(KeyType::EcdsaP256).unwrap();
        let leaf = one
            .authority
            .sign_leaf(
                &key.pair,
                false,
                &LeafSubject {
                    holder: crate::pki::role::Holder::Ray(crate::pki::role::Role::Worker),
                    common_name: "w".into(),
                },
                &[San::localhost()],
                Lifetime::default_days(30),
                now,
            )
            .unwrap();
        let leaf_der =
            crate::pki::pem::certificates(std::path::Path::new("leaf"), leaf.chain_pem.as_bytes())
                .unwrap();
        assert_eq!(leaf_der.len(), 1, "the leaf alone, no CA in tls.crt");
        crate::pki::chain::verify_leaf(
            std::slice::from_ref(&again.cert_der),
            &[],
            &leaf_der[0],
            crate::pki::chain::Usage::Server,
            now,
        )
        .unwrap();

        // Recreated: same namespace and name, new UID.
        let recreated = issue(
            &s,
            &master(7),
            &cluster("22222222-bbbb-4000-8000-000000000002"),
        )
        .unwrap();
        assert_ne!(recreated.info.spki_bits, one.info.spki_bits);
        assert_ne!(recreated.info.subject, one.info.subject);
        assert!(crate::pki::chain::verify_leaf(
            std::slice::from_ref(&recreated.cert_der),
            &[],
            &leaf_der[0],
            crate::pki::chain::Usage::Server,
            now,
        )
        .is_err());
    }

    #[test]
    fn a_ca_from_another_signer_is_not_vouched_for() {
        let now = OffsetDateTime::now_utc();
        let (_d1, s1) = signer(now);
        let (_d2, s2) = signer(now);
        let ca = issue(&s1, &master(1), &cluster("uid-x")).unwrap();
        let e = vouched_by(&ca.cert_der, &[], std::slice::from_ref(&s2.cert_der), now).unwrap_err();
        assert!(e.contains("not signed by a CA in --signer-ca"), "{e}");
        // A leaf (not a CA) is never a cluster CA.
        let not_ca = crate::pki::pem::certificates(
            std::path::Path::new("x"),
            s1.issue(
                &crate::pki::role::LeafIdentity::new(
                    crate::pki::role::Role::Client,
                    None,
                    None,
                    None,
                    vec![],
                )
                .unwrap(),
                KeyType::EcdsaP256,
                Lifetime::default_days(1),
                now,
            )
            .unwrap()
            .cert_pem
            .as_bytes(),
        )
        .unwrap();
        assert!(vouched_by(&not_ca[0], &[], std::slice::from_ref(&s1.cert_der), now).is_err());
    }

    /// Issue 24 item 7: only the length was checked, so 32 × `a` was a master key.
    #[test]
    fn regression_master_key_of_low_entropy_is_refused_naming_the_file_not_the_key() {
        let weak: [(&str, Vec<u8>); 5] = [
            ("one character", vec![b'a'; 32]),
            ("one character, long", vec![b'a'; 64]),
            ("two characters", b"ab".repeat(16)),
            ("15 symbols over 32 bytes", {
                let mut v = b"0123456789abcde".repeat(3);
                v.truncate(32);
                v
            }),
            ("zero bytes", vec![0; 40]),
        ];
        for (what, key) in weak {
            assert!(estimated_bits(&key) < MIN_MASTER_BITS, "{what}");
            let e = MasterKey::new("/etc/raytls/cluster/cluster.key", &key)
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("/etc/raytls/cluster/cluster.key: "),
                "{what}: {e}"
            );
            assert!(
                e.contains("too guessable") && e.contains("raytls token generate"),
                "{e}"
            );
            assert!(!e.contains('\n'), "one line: {e}");
            assert!(
                !e.contains(&String::from_utf8_lossy(&key[..8]).into_owned()),
                "{e}"
            );
        }
        let e = MasterKey::new("k", &[b'a'; 32]).unwrap_err().to_string();
        assert!(e.contains("one character repeated, about 0 bits"), "{e}");
        // Short keys keep their own message.
        let e = MasterKey::new("k", b"0123456789abcdef")
            .unwrap_err()
            .to_string();
        assert!(e.contains("is 16 bytes; it must be at least 32"), "{e}");
    }

    #[test]
    fn generated_master_keys_always_pass() {
        use ring::rand::{SecureRandom, SystemRandom};
        // `raytls token generate`: 44 base64 characters.
        for _ in 0..2000 {
            let t = crate::kit::auth_token::generate().unwrap();
            assert_eq!(t.len(), 44);
            // At least MIN_MASTER_BITS, which needs 8 distinct symbols of 44: a random token
            // has about 31 (a bar of 200 bits, 24 distinct, failed about once in 70,000
            // tokens, so about one run in 35 of this loop).
            assert!(estimated_bits(t.as_bytes()) >= MIN_MASTER_BITS, "{t}");
            MasterKey::new("token", t.as_bytes()).unwrap();
        }
        // `openssl rand -hex 32`: 64 hex digits.
        let rng = SystemRandom::new();
        for _ in 0..2000 {
            let mut b = [0u8; 32];
            rng.fill(&mut b).unwrap();
            let hex = crate::text::hex::lower(&b);
            assert_eq!(hex.len(), 64);
            MasterKey::new("hex", hex.as_bytes()).unwrap();
        }
        // The worst a 64-digit hex key can do and still pass: 4 distinct digits.
        assert_eq!(estimated_bits(&b"0123".repeat(16)), 128.0);
        MasterKey::new("hex", &b"0123".repeat(16)).unwrap();
        assert!(MasterKey::new("hex", &b"012".repeat(22)).is_err());
    }

    #[test]
    fn common_names_stay_within_64_characters() {
        let long = "n".repeat(253);
        let c = ClusterRef {
            namespace: "a-very-long-namespace-name",
            name: &long,
            uid: "abcdef12-3456-4000-8000-000000000000",
            created: OffsetDateTime::UNIX_EPOCH,
        };
        let cn = common_name(&c);
        assert!(cn.len() <= 64 && cn.ends_with("... abcdef12"), "{cn}");
        assert_eq!(
            common_name(&cluster("0a1b2c3d-x")),
            "raytls cluster ray/rc 0a1b2c3d"
        );
    }
}
