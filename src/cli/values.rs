//! Flag values that are domain types: the command line maps onto `pki` and `provision`
//! enums here, so that the domain never depends on the CLI parser.
use clap::builder::PossibleValue;
use clap::ValueEnum;

use crate::pki::keys::KeyType;
use crate::pki::role::Role;
use crate::provision::ray_env::EnvFormat;

impl ValueEnum for Role {
    fn value_variants<'a>() -> &'a [Self] {
        &[Role::Head, Role::Worker, Role::Client]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let help = match self {
            Role::Head => "The head pod: GCS (port 6379), dashboard, client server",
            Role::Worker => "A worker pod: raylet and workers, dialed by IP",
            Role::Client => {
                "A client identity (e.g. a job submitter or a health check); the GCS does not \
                 check client names, so SANs are only what you ask for"
            }
        };
        Some(PossibleValue::new(self.name()).help(help))
    }
}

impl ValueEnum for KeyType {
    fn value_variants<'a>() -> &'a [Self] {
        &[KeyType::EcdsaP256, KeyType::EcdsaP384]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(match self {
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
        }))
    }
}

impl ValueEnum for EnvFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            EnvFormat::Dotenv,
            EnvFormat::Shell,
            EnvFormat::Json,
            EnvFormat::K8s,
        ]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let (name, help) = match self {
            EnvFormat::Dotenv => (
                "dotenv",
                "KEY=value lines for `set -a; . FILE`, systemd EnvironmentFile and \
                 python-dotenv; values that need quoting are single-quoted",
            ),
            EnvFormat::Shell => (
                "shell",
                "`export KEY='value'` lines, safely quoted, for `eval` or `source`",
            ),
            EnvFormat::Json => ("json", "one JSON object"),
            EnvFormat::K8s => ("k8s", "the YAML `env:` list of a Kubernetes container spec"),
        };
        Some(PossibleValue::new(name).help(help))
    }
}
