//! Blue-green deployment state: which colour runs which version, and how a deploy changes that.
//!
//! The JSON shape is the seed's (`{"nextUpdate":"blue","currentVersion":1,"previousVersion":1}`),
//! so a parameter written by the seed's CDK app can be read back and vice versa. Everything here
//! is pure; reading the SSM parameter lives in the [`ssm`] module behind the `ssm` cargo feature,
//! so that users of the transition never pull in the AWS SDK.

#[cfg(feature = "ssm")]
pub mod ssm;

use std::fmt;

use serde::{Deserialize, Serialize};

/// One of the two copies of the service in a blue-green deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Colour {
    Blue,
    Green,
}

impl Colour {
    /// Both colours, in a fixed order, for code that renders one resource set per colour.
    pub const ALL: [Colour; 2] = [Colour::Blue, Colour::Green];

    pub fn other(self) -> Colour {
        match self {
            Colour::Blue => Colour::Green,
            Colour::Green => Colour::Blue,
        }
    }

    /// The lowercase name used in the JSON state and in resource names.
    pub fn as_str(self) -> &'static str {
        match self {
            Colour::Blue => "blue",
            Colour::Green => "green",
        }
    }
}

impl fmt::Display for Colour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The version each colour runs in a given state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ColourVersions {
    pub blue: u32,
    pub green: u32,
}

impl ColourVersions {
    pub fn get(&self, colour: Colour) -> u32 {
        match colour {
            Colour::Blue => self.blue,
            Colour::Green => self.green,
        }
    }
}

/// The blue-green state as the seed stores it.
///
/// The colour named by `next_update` runs `current_version`, the other colour runs
/// `previous_version`. The name `next_update` is the seed's: it is the colour that received the
/// most recent update, and the next *different* version goes to the other one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlueGreenState {
    pub next_update: Colour,
    pub current_version: u32,
    /// The seed's README prints this key as `nextVersion` while its code writes
    /// `previousVersion`; parameters written by hand from the README must still load.
    #[serde(alias = "nextVersion")]
    pub previous_version: u32,
}

/// Everything that can go wrong reading or changing blue-green state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "state is not valid blue-green state JSON: {0}; expected e.g. \
         {{\"nextUpdate\":\"blue\",\"currentVersion\":1,\"previousVersion\":1}}"
    )]
    InvalidJson(serde_json::Error),
    #[error("stored state has {field} 0 but versions start at 1: fix or delete the stored state")]
    ZeroStoredVersion { field: &'static str },
    #[error("version {version} is not valid: versions start at 1, deploy version 1 or higher")]
    InvalidVersion { version: u32 },
}

impl BlueGreenState {
    /// The state used when no state is stored yet (the seed's default): both colours run 1.
    pub fn bootstrap() -> Self {
        BlueGreenState {
            next_update: Colour::Blue,
            current_version: 1,
            previous_version: 1,
        }
    }

    /// Parses seed-compatible JSON, accepting `nextVersion` as an alias of `previousVersion`.
    pub fn from_json(json: &str) -> Result<Self, StateError> {
        let state: BlueGreenState = serde_json::from_str(json).map_err(StateError::InvalidJson)?;
        // Version 0 never comes out of `deploy`, so a stored 0 means the parameter was edited
        // by hand; refusing it early beats rendering a service at version 0.
        if state.current_version == 0 {
            return Err(StateError::ZeroStoredVersion {
                field: "currentVersion",
            });
        }
        if state.previous_version == 0 {
            return Err(StateError::ZeroStoredVersion {
                field: "previousVersion",
            });
        }
        Ok(state)
    }

    /// Compact JSON in the seed's key order: `nextUpdate`, `currentVersion`, `previousVersion`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a struct of an enum and two integers always serializes")
    }

    /// The state after deploying `desired_version` (SPEC §2): a new version goes to the colour
    /// that did not get the last update; deploying the current version changes nothing.
    pub fn deploy(&self, desired_version: u32) -> Result<BlueGreenState, StateError> {
        if desired_version == 0 {
            return Err(StateError::InvalidVersion {
                version: desired_version,
            });
        }
        if desired_version == self.current_version {
            return Ok(*self);
        }
        Ok(BlueGreenState {
            next_update: self.next_update.other(),
            current_version: desired_version,
            previous_version: self.current_version,
        })
    }

    pub fn version_of(&self, colour: Colour) -> u32 {
        if colour == self.next_update {
            self.current_version
        } else {
            self.previous_version
        }
    }

    pub fn versions(&self) -> ColourVersions {
        ColourVersions {
            blue: self.version_of(Colour::Blue),
            green: self.version_of(Colour::Green),
        }
    }
}

impl Default for BlueGreenState {
    fn default() -> Self {
        BlueGreenState::bootstrap()
    }
}

#[cfg(test)]
mod tests;
