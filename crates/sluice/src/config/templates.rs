//! `[templates]`: the limits of one template render and the sandbox processes that
//! enforce them (`SLUICE_TEMPLATES_<KEY>`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sluice_template_sandbox::{SandboxConfig, TemplateSandbox};

use super::{Config, parse_duration};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemplatesConfig {
    /// Memory one render may allocate beyond the sender's data, e.g. `16MB`, `512KB`
    /// or a number of bytes; a template that needs more is refused with a 422.
    pub max_render_memory: ByteSize,
    /// Wall-clock time one render may take.
    pub render_timeout: String,
    /// The `sluice` executable started as `<it> render-sandbox` to render templates;
    /// default: this process's own executable.
    pub sandbox_command: Option<String>,
}

impl Default for TemplatesConfig {
    fn default() -> Self {
        Self {
            max_render_memory: ByteSize(16 << 20),
            render_timeout: "2s".into(),
            sandbox_command: None,
        }
    }
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

/// Below this a render cannot even hold a small message.
const MIN_RENDER_MEMORY: u64 = 1 << 20;

impl Config {
    /// The template sandbox pool (no process starts until the first render).
    pub fn template_sandbox(&self) -> anyhow::Result<TemplateSandbox> {
        let t = &self.templates;
        if t.max_render_memory.0 < MIN_RENDER_MEMORY {
            bail!(
                "invalid configuration: `templates.max_render_memory` (SLUICE_TEMPLATES_MAX_RENDER_MEMORY) must be at least 1MB"
            );
        }
        let timeout = parse_duration(&t.render_timeout).context(
            "invalid configuration: `templates.render_timeout` (SLUICE_TEMPLATES_RENDER_TIMEOUT)",
        )?;
        if timeout.is_zero() || timeout > Duration::from_secs(60) {
            bail!(
                "invalid configuration: `templates.render_timeout` (SLUICE_TEMPLATES_RENDER_TIMEOUT) must be between 1ms and 60s"
            );
        }
        let program = match &t.sandbox_command {
            Some(command) if command.trim().is_empty() => bail!(
                "invalid configuration: `templates.sandbox_command` (SLUICE_TEMPLATES_SANDBOX_COMMAND) is empty"
            ),
            Some(command) => PathBuf::from(command.trim()),
            None => own_executable()?,
        };
        Ok(TemplateSandbox::new(SandboxConfig {
            program,
            max_memory: t.max_render_memory.0,
            timeout,
            processes: std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
        }))
    }
}

/// This process's executable. `/proc/self/exe` first: it still starts the running
/// binary after a deploy has replaced the file on disk, so parent and children
/// always speak the same protocol.
fn own_executable() -> anyhow::Result<PathBuf> {
    let proc_exe = PathBuf::from("/proc/self/exe");
    if proc_exe.exists() {
        return Ok(proc_exe);
    }
    std::env::current_exe().context(
        "cannot find this program's executable for the template sandbox; set `templates.sandbox_command` (SLUICE_TEMPLATES_SANDBOX_COMMAND)",
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::Path;

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
    #[allow(clippy::result_large_err)]
    fn the_limits_come_from_toml_or_the_environment_and_name_their_key() {
        figment::Jail::expect_with(|jail| {
            let config = Config::load(None).unwrap();
            let sandbox = config.template_sandbox().unwrap();
            assert_eq!(sandbox.config().max_memory, 16 << 20);
            assert_eq!(sandbox.config().timeout, Duration::from_secs(2));

            jail.create_file(
                "s.toml",
                "[templates]\nmax_render_memory = \"32MB\"\nsandbox_command = \"/opt/sluice\"\n",
            )?;
            let config = Config::load(Some(Path::new("s.toml"))).unwrap();
            let sandbox = config.template_sandbox().unwrap();
            assert_eq!(sandbox.config().max_memory, 32 << 20);
            assert_eq!(sandbox.config().program, Path::new("/opt/sluice"));

            jail.set_env("SLUICE_TEMPLATES_MAX_RENDER_MEMORY", "8388608");
            jail.set_env("SLUICE_TEMPLATES_RENDER_TIMEOUT", "500ms");
            let config = Config::load(Some(Path::new("s.toml"))).unwrap();
            let sandbox = config.template_sandbox().unwrap();
            assert_eq!(sandbox.config().max_memory, 8 << 20);
            assert_eq!(sandbox.config().timeout, Duration::from_millis(500));

            jail.set_env("SLUICE_TEMPLATES_MAX_RENDER_MEMORY", "1000");
            let error = format!("{:#}", Config::load(None).unwrap_err());
            assert!(
                error.contains("templates.max_render_memory")
                    && error.contains("SLUICE_TEMPLATES_MAX_RENDER_MEMORY"),
                "{error}"
            );
            jail.set_env("SLUICE_TEMPLATES_MAX_RENDER_MEMORY", "16 zB");
            let error = format!("{:#}", Config::load(None).unwrap_err()).to_lowercase();
            assert!(
                error.contains("templates.max_render_memory") && error.contains("16 zb"),
                "{error}"
            );
            Ok(())
        });
    }
}
