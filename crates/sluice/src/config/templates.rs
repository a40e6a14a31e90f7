//! `[templates]` ([`TemplatesConfig`](super::TemplatesConfig), beside the sandbox):
//! the limits of one template render and the sandbox processes that enforce them
//! (`SLUICE_TEMPLATES_<KEY>`).

use sluice_template_sandbox::TemplateSandbox;

use super::Config;
use super::keys::refuse;

impl Config {
    /// The template sandbox pool (no process starts until the first render).
    pub fn template_sandbox(&self) -> anyhow::Result<TemplateSandbox> {
        let config = self
            .templates
            .sandbox_config()
            .map_err(|e| refuse(e.within("templates")))?;
        Ok(TemplateSandbox::new(config))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::Path;
    use std::time::Duration;

    use super::*;

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
