//! Is the pod guard in place? The signer certifies a pod as a RayCluster's head or worker on
//! the strength of its labels and its controller ownerReference, and a pod's creator writes
//! both. The guard is a ValidatingAdmissionPolicy (`examples/kubernetes/pod-guard.yaml`, the
//! chart's `podGuard`) that lets only the KubeRay operator create a pod a RayCluster
//! controls, or change those fields of one. The API server enforces it; the signer only looks
//! for it (at start, then every minute), says what it found at start-up and on `/healthz`,
//! and with `--require-pod-guard` signs nothing while it is missing.
use std::sync::Mutex;
use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::Client;

/// The ValidatingAdmissionPolicy and its binding, by name.
pub const POLICY_NAME: &str = "raytls-ray-pod-guard";
/// How often the signer looks again.
const RECHECK: Duration = Duration::from_secs(60);

/// What the last look found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardStatus {
    /// Not looked yet.
    Unknown(String),
    /// The policy and a binding that denies are there.
    InPlace,
    /// Something is missing: what.
    Missing(String),
}

impl GuardStatus {
    /// `in_place`, `missing`, `unknown`: for /healthz and the metric.
    pub fn name(&self) -> &'static str {
        match self {
            GuardStatus::InPlace => "in_place",
            GuardStatus::Missing(_) => "missing",
            GuardStatus::Unknown(_) => "unknown",
        }
    }

    /// One line for a person.
    pub fn describe(&self) -> String {
        match self {
            GuardStatus::InPlace => format!(
                "in place (ValidatingAdmissionPolicy {POLICY_NAME} with a Deny binding): only the KubeRay operator can make a pod that a RayCluster controls"
            ),
            GuardStatus::Missing(why) | GuardStatus::Unknown(why) => format!(
                "{}: {why}; without it anyone who can create pods in a namespace can get a RayCluster's head or worker certificate there (install examples/kubernetes/pod-guard.yaml or the chart's podGuard)",
                if matches!(self, GuardStatus::Missing(_)) { "MISSING" } else { "UNKNOWN" }
            ),
        }
    }
}

/// The guard's last known status, refreshed in the background.
pub struct Guard {
    status: Mutex<GuardStatus>,
}

impl Guard {
    /// Look now, then every minute, in the background; the first look is logged.
    pub fn start(client: Client) -> std::sync::Arc<Guard> {
        let guard = std::sync::Arc::new(Guard {
            status: Mutex::new(GuardStatus::Unknown("not looked for yet".into())),
        });
        let g = guard.clone();
        tokio::spawn(async move {
            let mut first = true;
            loop {
                let now = look(&client).await;
                let changed = {
                    let mut st = crate::probe::tls::lock(&g.status);
                    let changed = *st != now;
                    *st = now.clone();
                    changed
                };
                if first || changed {
                    eprintln!("raytls serve: pod guard {}", now.describe());
                }
                first = false;
                tokio::time::sleep(RECHECK).await;
            }
        });
        guard
    }

    pub fn status(&self) -> GuardStatus {
        crate::probe::tls::lock(&self.status).clone()
    }
}

fn api(client: &Client, kind: &str, plural: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", kind);
    Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(&gvk, plural),
    )
}

/// One look: the policy (failing closed) and a binding of it whose actions include Deny.
async fn look(client: &Client) -> GuardStatus {
    let unknown = |what: &str, e: kube::Error| {
        GuardStatus::Unknown(format!(
            "cannot read {what} ({}); the signer needs get/list on validatingadmissionpolicies and validatingadmissionpolicybindings",
            crate::signer::printable(&e.to_string())
        ))
    };
    let policy = match api(
        client,
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
    )
    .get_opt(POLICY_NAME)
    .await
    {
        Ok(Some(p)) => p,
        Ok(None) => {
            return GuardStatus::Missing(format!("no ValidatingAdmissionPolicy {POLICY_NAME}"))
        }
        Err(e) => return unknown("ValidatingAdmissionPolicy", e),
    };
    if policy.data["spec"]["failurePolicy"].as_str() == Some("Ignore") {
        return GuardStatus::Missing(format!(
            "ValidatingAdmissionPolicy {POLICY_NAME} has failurePolicy Ignore (it must fail closed)"
        ));
    }
    let bindings = match api(
        client,
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
    )
    .list(&Default::default())
    .await
    {
        Ok(b) => b,
        Err(e) => return unknown("ValidatingAdmissionPolicyBindings", e),
    };
    let denies = bindings.items.iter().any(|b| {
        let spec = &b.data["spec"];
        spec["policyName"].as_str() == Some(POLICY_NAME)
            && spec["validationActions"]
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v.as_str() == Some("Deny")))
    });
    if denies {
        GuardStatus::InPlace
    } else {
        GuardStatus::Missing(format!(
            "no ValidatingAdmissionPolicyBinding of {POLICY_NAME} with validationActions [Deny]"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_name_the_policy_and_the_fix() {
        assert_eq!(GuardStatus::InPlace.name(), "in_place");
        assert!(GuardStatus::InPlace.describe().contains(POLICY_NAME));
        let m = GuardStatus::Missing("no ValidatingAdmissionPolicy x".into());
        assert_eq!(m.name(), "missing");
        let line = m.describe();
        assert!(
            line.starts_with("MISSING") && line.contains("pod-guard.yaml"),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }
}
