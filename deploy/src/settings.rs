//! Settings read from the environment, with one truth table for every boolean flag
//! (`MESHTEST_LOCAL_NO_BUILD`, `MESHTEST_DEBUG_API_CALLS`, ...)

use crate::error::{Error, Result};

/// An environment variable, `None` when unset or blank.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A boolean setting from the environment. Truth table (case-insensitive, surrounding spaces
/// ignored):
///
/// | value                          | result          |
/// |--------------------------------|-----------------|
/// | unset, empty                   | `false`         |
/// | `1`, `true`, `yes`, `on`       | `true`          |
/// | `0`, `false`, `no`, `off`      | `false`         |
/// | anything else                  | error naming it |
pub fn env_flag(name: &str) -> Result<bool> {
    parse_flag(name, env_var(name).as_deref())
}

fn parse_flag(name: &str, value: Option<&str>) -> Result<bool> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(false);
    };
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Error::Setting {
            name: name.to_owned(),
            value: value.to_owned(),
            expected: "a boolean: use 1 or 0 (true/false, yes/no, on/off)",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_flag;

    fn check(value: Option<&str>, expected: Option<bool>) {
        let got = parse_flag("MESHTEST_X", value);
        match expected {
            Some(b) => assert_eq!(got.unwrap(), b, "{value:?}"),
            None => {
                let err = got.unwrap_err().to_string();
                assert!(err.starts_with("MESHTEST_X="), "{value:?}: {err}");
            }
        }
    }

    #[test]
    fn boolean_settings_follow_the_truth_table() {
        for unset in [None, Some(""), Some("  ")] {
            check(unset, Some(false));
        }
        for yes in ["1", "true", "TRUE", " yes ", "On"] {
            check(Some(yes), Some(true));
        }
        // `MESHTEST_LOCAL_NO_BUILD=false` used to skip the build.
        for no in ["0", "false", "False", "no", "off"] {
            check(Some(no), Some(false));
        }
        for bad in ["2", "y", "enable", "truee"] {
            check(Some(bad), None);
        }
    }
}
