//! How `issue`, `init` and `quickstart` report what they did: one line per file, as mkcert
//! does, or one JSON object.
use crate::provision::ray_env::{CA_FILE, ENV_FILE, KEY_FILE};
use crate::provision::{Action, Outcome};
use crate::text::escape::escape;

/// One line per outcome, as mkcert does; or one JSON object.
pub fn print(o: &Outcome, json: bool) {
    for note in &o.notes {
        // Notes and reasons may carry a CA's subject, read from a file.
        eprintln!("raytls: note: {}", escape(note));
    }
    if json {
        crate::outln!("{}", serde_json::to_string(o).unwrap_or_default());
        return;
    }
    let verb = match o.action {
        Action::Issued => "issued",
        Action::Kept => "kept",
    };
    crate::outln!(
        "{verb} {} certificate {}: SANs {}; {}; expires {} ({})",
        o.role,
        o.cert.display(),
        if o.sans.is_empty() {
            "none".to_string()
        } else {
            o.sans.join(", ")
        },
        o.key_type,
        o.not_after,
        escape(&o.reason)
    );
    for path in o.written.iter().filter(|p| **p != o.cert) {
        let what = match path.file_name().and_then(|n| n.to_str()) {
            Some(KEY_FILE) => "private key, mode 0600".to_string(),
            Some(CA_FILE) => format!(
                "CA \"{}\", expires {}",
                escape(&o.ca_subject),
                o.ca_not_after
            ),
            Some(ENV_FILE) => "RAY_USE_TLS=1 and the RAY_TLS_* paths".to_string(),
            _ => "".to_string(),
        };
        crate::outln!("wrote {} ({what})", path.display());
    }
}

/// What the user should know (a shortened validity, a replaced ca.crt), on stderr.
pub fn print_notes(o: &Outcome) {
    for note in &o.notes {
        eprintln!("raytls: note: {note}");
    }
}
