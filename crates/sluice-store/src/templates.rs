//! A tenant's message templates, in numbered versions.
//!
//! One HASH per tenant holds every template's summary (id → JSON with the name, the
//! latest version and the times), so a page of the listing is one script; one HASH
//! per template holds its versions (number → subject/text/html JSON). A `PUT` adds a
//! version and drops the one [`VERSIONS_KEPT`] behind it, so a template never holds
//! more than that many: sends pinned to an older version get a 422 once it is gone.
//! The listing's order is a ZSET of ids all scored 0 read by lexical range (ids are
//! ULIDs, so that is creation order); the cursor is the last id of a page. Every
//! write is one script over the tenant's keys (one hash slot); nothing expires.

use std::sync::LazyLock;

use redis::Script;
use serde::{Deserialize, Serialize};
use sluice_model::{NewTemplate, Template, TemplateBody, TemplateId, TemplateSummary, TenantId};

use crate::reply::{self, Reply};
use crate::scripts::{Lua, Names};
use crate::{Store, StoreError, from_ms, keys, now_ms};

/// Versions kept per template: the latest and the 49 before it.
pub const VERSIONS_KEPT: u32 = 50;

/// Members of the summary JSON the scripts read or write (see [`StoredSummary`]).
mod member {
    pub const LATEST: &str = "latest";
    pub const NAME: &str = "name";
    pub const UPDATED_AT: &str = "updated_at";
}

/// The names the scripts take first (`scripts/template_names.lua`).
fn script_names() -> Vec<&'static str> {
    vec![member::LATEST, member::NAME, member::UPDATED_AT]
}

const NAMES: Names = Names::new(include_str!("scripts/template_names.lua"), script_names);

/// See `scripts/template_create.lua`.
static CREATE: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(&NAMES, &[], include_str!("scripts/template_create.lua")));

/// See `scripts/template_update.lua`.
static UPDATE: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(&NAMES, &[], include_str!("scripts/template_update.lua")));

/// See `scripts/template_get.lua`.
static GET: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(&NAMES, &[], include_str!("scripts/template_get.lua")));

/// See `scripts/template_delete.lua`.
static DELETE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/template_delete.lua")));

/// See `scripts/template_page.lua`.
static PAGE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/template_page.lua")));

/// A template's summary as stored (the id is the field name). The scripts spell the
/// members they touch through [`member`] (a test checks the two agree).
#[derive(Serialize, Deserialize)]
struct StoredSummary {
    name: String,
    latest: u32,
    /// Unix ms.
    created_at: i64,
    /// Unix ms: when the latest version was saved.
    updated_at: i64,
}

/// One version as stored (the number is the field name).
#[derive(Serialize, Deserialize)]
struct StoredVersion {
    #[serde(flatten)]
    body: TemplateBody,
    /// Unix ms.
    created_at: i64,
}

/// What looking up a template version found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateLookup {
    Found(Template),
    /// The tenant has no such template (another tenant's id included).
    NoTemplate,
    /// The template exists but not that version (never made, or no longer kept).
    NoVersion {
        latest: u32,
    },
}

/// One page of a tenant's templates, newest first.
#[derive(Clone, Debug)]
pub struct TemplatePage {
    pub templates: Vec<TemplateSummary>,
    /// Where the next (older) page starts; `None` on the last page.
    pub next_cursor: Option<TemplateId>,
}

fn encode<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::corrupt("template", e))
}

fn decode_summary(key: &str, id: &TemplateId, json: &str) -> Result<StoredSummary, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::corrupt(format!("{key} {id}"), e))
}

fn summary_view(id: TemplateId, stored: StoredSummary) -> TemplateSummary {
    TemplateSummary {
        id,
        name: stored.name,
        latest_version: stored.latest,
        created_at: from_ms(stored.created_at),
        updated_at: from_ms(stored.updated_at),
    }
}

fn template_view(
    id: TemplateId,
    summary: &StoredSummary,
    version: u32,
    stored: StoredVersion,
) -> Template {
    Template {
        id,
        name: summary.name.clone(),
        version,
        latest_version: summary.latest,
        subject: stored.body.subject,
        text: stored.body.text,
        html: stored.body.html,
        created_at: from_ms(summary.created_at),
        updated_at: from_ms(stored.created_at),
    }
}

/// A tenant's templates (see the module documentation).
impl Store {
    /// Saves a new template as version 1.
    pub async fn create_template(
        &self,
        tenant: &TenantId,
        template: &NewTemplate,
    ) -> Result<Template, StoreError> {
        let id = TemplateId::generate();
        let now = now_ms();
        let summary = StoredSummary {
            name: template.name.clone(),
            latest: 1,
            created_at: now,
            updated_at: now,
        };
        let version = StoredVersion {
            body: template.body.clone(),
            created_at: now,
        };
        let created = CREATE
            .call()
            .key(keys::templates(tenant))
            .key(keys::template_order(tenant))
            .key(keys::template_versions(tenant, &id))
            .arg(id.as_str())
            .arg(encode(&summary)?)
            .arg(encode(&version)?)
            .invoke_async(&mut self.conn())
            .await?;
        reply::int("template_create", created)?;
        Ok(template_view(id, &summary, 1, version))
    }

    /// Saves `template` as the next version of `id`; `None` when the tenant has no
    /// such template.
    pub async fn update_template(
        &self,
        tenant: &TenantId,
        id: &TemplateId,
        template: &NewTemplate,
    ) -> Result<Option<Template>, StoreError> {
        let now = now_ms();
        let version = StoredVersion {
            body: template.body.clone(),
            created_at: now,
        };
        let key = keys::templates(tenant);
        let summary = UPDATE
            .call()
            .key(&key)
            .key(keys::template_versions(tenant, id))
            .arg(id.as_str())
            .arg(&template.name)
            .arg(now)
            .arg(encode(&version)?)
            .arg(VERSIONS_KEPT)
            .invoke_async(&mut self.conn())
            .await?;
        let Some(summary) = reply::optional_text("template_update", summary)? else {
            return Ok(None);
        };
        let summary = decode_summary(&key, id, &summary)?;
        let latest = summary.latest;
        Ok(Some(template_view(id.clone(), &summary, latest, version)))
    }

    /// `version` of template `id` (the latest when `None`).
    pub async fn get_template(
        &self,
        tenant: &TenantId,
        id: &TemplateId,
        version: Option<u32>,
    ) -> Result<TemplateLookup, StoreError> {
        let key = keys::templates(tenant);
        let found = GET
            .call()
            .key(&key)
            .key(keys::template_versions(tenant, id))
            .arg(id.as_str())
            .arg(version.map(|v| v.to_string()).unwrap_or_default())
            .invoke_async(&mut self.conn())
            .await?;
        let mut found = Reply::new("template_get", found)?;
        if found.is_empty() {
            return Ok(TemplateLookup::NoTemplate);
        }
        let summary = found.text("summary")?;
        let stored = found.text("version")?;
        found.end()?;
        let summary = decode_summary(&key, id, &summary)?;
        if stored.is_empty() {
            return Ok(TemplateLookup::NoVersion {
                latest: summary.latest,
            });
        }
        let number = version.unwrap_or(summary.latest);
        let stored: StoredVersion = serde_json::from_str(&stored).map_err(|e| {
            StoreError::corrupt(
                format!("{} {number}", keys::template_versions(tenant, id)),
                e,
            )
        })?;
        Ok(TemplateLookup::Found(template_view(
            id.clone(),
            &summary,
            number,
            stored,
        )))
    }

    /// Deletes the template and every version; `false` when there was none.
    pub async fn delete_template(
        &self,
        tenant: &TenantId,
        id: &TemplateId,
    ) -> Result<bool, StoreError> {
        let deleted = DELETE
            .key(keys::templates(tenant))
            .key(keys::template_order(tenant))
            .key(keys::template_versions(tenant, id))
            .arg(id.as_str())
            .invoke_async(&mut self.conn())
            .await?;
        Ok(reply::int("template_delete", deleted)? == 1)
    }

    /// A page of the tenant's templates, newest first, after `cursor` (the last id
    /// of the previous page). `limit` is clamped to 1..=1000.
    pub async fn list_templates(
        &self,
        tenant: &TenantId,
        cursor: Option<&TemplateId>,
        limit: usize,
    ) -> Result<TemplatePage, StoreError> {
        let limit = limit.clamp(1, 1000);
        let key = keys::templates(tenant);
        let upper = cursor.map_or_else(|| "+".to_string(), |c| format!("({c}"));
        let rows: Vec<(String, String)> = PAGE
            .key(&key)
            .key(keys::template_order(tenant))
            .arg(upper)
            .arg(limit + 1)
            .invoke_async(&mut self.conn())
            .await?;
        let more = rows.len() > limit;
        let mut templates = Vec::with_capacity(limit);
        let mut last = None;
        for (id, json) in rows.into_iter().take(limit) {
            let id = TemplateId::parse(&id)
                .map_err(|e| StoreError::corrupt(keys::template_order(tenant), e))?;
            // An order member without its summary is skipped, not fatal.
            if !json.is_empty() {
                let stored = decode_summary(&key, &id, &json)?;
                templates.push(summary_view(id.clone(), stored));
            }
            last = Some(id);
        }
        Ok(TemplatePage {
            templates,
            next_cursor: last.filter(|_| more),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_scripts_spell_the_summary_members_as_serde_does() {
        let stored = StoredSummary {
            name: "n".into(),
            latest: 1,
            created_at: 0,
            updated_at: 0,
        };
        let json = serde_json::to_value(&stored).unwrap();
        for member in script_names() {
            assert!(json.get(member).is_some(), "{member}");
        }
    }
}
