//! The blue-green pair: two services of the stack and the state the stack writes to SSM

use std::collections::BTreeSet;

use super::validator::Validator;
use crate::rules;
use crate::spec::*;

impl Validator {
    pub(super) fn blue_green(&mut self, bg: &BlueGreenSpec, services: &BTreeSet<&str>) {
        for (field, name) in [
            ("blueService", &bg.blue_service),
            ("greenService", &bg.green_service),
        ] {
            if !services.contains(name.as_str()) {
                self.err(
                    format!("blueGreen.{field}"),
                    format!("service {} is not in this stack", rules::quote(name)),
                );
            }
        }
        if bg.blue_service == bg.green_service {
            self.err(
                "blueGreen.greenService",
                "blue and green must be different services",
            );
        }
        self.check(
            "blueGreen.stateParameter",
            rules::ssm_parameter_name(&bg.state_parameter),
        );
        if serde_json::from_str::<serde_json::Value>(&bg.state_json).is_err() {
            self.err("blueGreen.stateJson", "state is not valid JSON");
        } else if bg.state_json.len() > 4096 {
            self.err(
                "blueGreen.stateJson",
                "state is larger than the 4096 bytes a standard SSM parameter holds",
            );
        }
    }
}
