//! `[templates]`: the limits of one render and the sandbox processes that enforce
//! them, as the configuration file and the environment give them — with their
//! defaults and the one conversion into [`SandboxConfig`].

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sluice_model::setting::InvalidSetting;

use crate::SandboxConfig;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemplatesConfig {
    /// Memory one render may allocate beyond the sender's data, e.g. `16MB`, `512KB`
    /// or a number of bytes; a template that needs more is refused with a 422.
    pub max_render_memory: ByteSize,
    /// Wall-clock time one render may take.
    #[serde(with = "sluice_model::duration")]
    pub render_timeout: Duration,
    /// The `sluice` executable started as `<it> render-sandbox` to render templates;
    /// default: this process's own executable.
    pub sandbox_command: Option<String>,
}

impl Default for TemplatesConfig {
    fn default() -> Self {
        Self {
            max_render_memory: ByteSize(16 << 20),
            render_timeout: Duration::from_secs(2),
            sandbox_command: None,
        }
    }
}

/// Below this a render cannot even hold a small message.
const MIN_RENDER_MEMORY: u64 = 1 << 20;
/// Past this a render holds an API request far too long.
const MAX_RENDER_TIMEOUT: Duration = Duration::from_secs(60);

impl TemplatesConfig {
    /// The sandbox's settings, validated (keys relative to `[templates]`): one process
    /// per core.
    pub fn sandbox_config(&self) -> Result<SandboxConfig, InvalidSetting> {
        if self.max_render_memory.0 < MIN_RENDER_MEMORY {
            return Err(InvalidSetting::new(
                "max_render_memory",
                "must be at least 1MB",
            ));
        }
        if self.render_timeout.is_zero() || self.render_timeout > MAX_RENDER_TIMEOUT {
            return Err(InvalidSetting::new(
                "render_timeout",
                "must be more than zero and at most 60s",
            ));
        }
        let program = match &self.sandbox_command {
            Some(command) if command.trim().is_empty() => {
                return Err(InvalidSetting::new("sandbox_command", "is empty"));
            }
            Some(command) => PathBuf::from(command.trim()),
            None => own_executable()?,
        };
        Ok(SandboxConfig {
            program,
            max_memory: self.max_render_memory.0,
            timeout: self.render_timeout,
            processes: std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
        })
    }
}

/// This process's executable. `/proc/self/exe` first: it still starts the running
/// binary after a deploy has replaced the file on disk, so parent and children
/// always speak the same protocol.
fn own_executable() -> Result<PathBuf, InvalidSetting> {
    let proc_exe = PathBuf::from("/proc/self/exe");
    if proc_exe.exists() {
        return Ok(proc_exe);
    }
    std::env::current_exe().map_err(|e| {
        InvalidSetting::new(
            "sandbox_command",
            format!("is not set and this program's executable cannot be found ({e}); set it"),
        )
    })
}

/// A size in bytes, written as a number or with a unit: `16MB`, `16 MiB`, `512KB`,
/// `1GB` (units are powers of 1024, case-insensitive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: u64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a size like 16MB, 512KB or 1048576"))?;
        let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            _ => return Err(format!("`{text}` has no valid unit (B, KB, MB, GB)")),
        };
        number
            .checked_mul(factor)
            .map(ByteSize)
            .ok_or_else(|| format!("`{text}` is too large"))
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Bytes(u64),
            Text(String),
        }
        match Form::deserialize(deserializer)? {
            Form::Bytes(bytes) => Ok(ByteSize(bytes)),
            Form::Text(text) => ByteSize::parse(&text).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sizes_parse_with_or_without_units() {
        assert_eq!(ByteSize::parse("16MB").unwrap(), ByteSize(16 << 20));
        assert_eq!(ByteSize::parse("16 mib").unwrap(), ByteSize(16 << 20));
        assert_eq!(ByteSize::parse("512KB").unwrap(), ByteSize(512 << 10));
        assert_eq!(ByteSize::parse("1048576").unwrap(), ByteSize(1 << 20));
        assert!(ByteSize::parse("16 TB").is_err());
        assert!(ByteSize::parse("lots").is_err());
    }

    #[test]
    fn limits_are_checked_with_the_key_named() {
        let config = TemplatesConfig::default().sandbox_config().unwrap();
        assert_eq!(config.max_memory, 16 << 20);
        assert_eq!(config.timeout, Duration::from_secs(2));
        let slow = TemplatesConfig {
            render_timeout: Duration::from_secs(61),
            ..TemplatesConfig::default()
        };
        assert_eq!(
            slow.sandbox_config().unwrap_err().to_string(),
            "`render_timeout` must be more than zero and at most 60s"
        );
    }
}
