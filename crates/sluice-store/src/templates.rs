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
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use sluice_model::{NewTemplate, Template, TemplateBody, TemplateId, TemplateSummary, TenantId};

use crate::{Store, StoreError, from_ms, keys, now_ms};

/// Versions kept per template: the latest and the 49 before it.
pub const VERSIONS_KEPT: u32 = 50;

/// KEYS: summaries hash, order, the template's versions. ARGV: id, summary JSON,
/// version 1 JSON.
static CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('HSET', KEYS[3], '1', ARGV[3])
return 1
"#,
    )
});

/// KEYS: summaries hash, the template's versions. ARGV: id, name, updated_at ms,
/// version JSON, versions kept. Returns the new summary JSON, or nil when the
/// template does not exist.
static UPDATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return false end
local summary = cjson.decode(current)
local version = summary.latest + 1
summary.latest = version
summary.name = ARGV[2]
summary.updated_at = tonumber(ARGV[3])
local encoded = cjson.encode(summary)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
redis.call('HSET', KEYS[2], tostring(version), ARGV[4])
local dropped = version - tonumber(ARGV[5])
if dropped >= 1 then redis.call('HDEL', KEYS[2], tostring(dropped)) end
return encoded
"#,
    )
});

/// KEYS: summaries hash, the template's versions. ARGV: id, version ('' = latest).
/// Returns `{}` for no template, else `{summary JSON, version JSON or ''}`.
static GET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local summary = redis.call('HGET', KEYS[1], ARGV[1])
if not summary then return {} end
local version = ARGV[2]
if version == '' then version = tostring(cjson.decode(summary).latest) end
return {summary, redis.call('HGET', KEYS[2], version) or ''}
"#,
    )
});

/// KEYS: summaries hash, order, the template's versions. ARGV: id. Returns 1 when
/// the template existed.
static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
return 1
"#,
    )
});

/// KEYS: summaries hash, order. ARGV: upper bound (`+` or `(<id>`), count. Returns
/// `{id, summary JSON or ''}` newest first.
static PAGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local ids = redis.call('ZREVRANGEBYLEX', KEYS[2], ARGV[1], '-', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  out[#out + 1] = {id, redis.call('HGET', KEYS[1], id) or ''}
end
return out
"#,
    )
});

/// A template's summary as stored (the id is the field name).
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

/// A tenant's templates (see the module documentation).
#[derive(Clone)]
pub struct Templates {
    conn: ConnectionManager,
}

impl Store {
    pub fn templates(&self) -> Templates {
        Templates { conn: self.conn() }
    }
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

impl Templates {
    /// Saves a new template as version 1.
    pub async fn create(
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
        let _: i64 = CREATE
            .key(keys::templates(tenant))
            .key(keys::template_order(tenant))
            .key(keys::template_versions(tenant, &id))
            .arg(id.as_str())
            .arg(encode(&summary)?)
            .arg(encode(&version)?)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(template_view(id, &summary, 1, version))
    }

    /// Saves `template` as the next version of `id`; `None` when the tenant has no
    /// such template.
    pub async fn update(
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
        let summary: Option<String> = UPDATE
            .key(&key)
            .key(keys::template_versions(tenant, id))
            .arg(id.as_str())
            .arg(&template.name)
            .arg(now)
            .arg(encode(&version)?)
            .arg(VERSIONS_KEPT)
            .invoke_async(&mut self.conn.clone())
            .await?;
        let Some(summary) = summary else {
            return Ok(None);
        };
        let summary = decode_summary(&key, id, &summary)?;
        let latest = summary.latest;
        Ok(Some(template_view(id.clone(), &summary, latest, version)))
    }

    /// `version` of template `id` (the latest when `None`).
    pub async fn get(
        &self,
        tenant: &TenantId,
        id: &TemplateId,
        version: Option<u32>,
    ) -> Result<TemplateLookup, StoreError> {
        let key = keys::templates(tenant);
        let found: Vec<String> = GET
            .key(&key)
            .key(keys::template_versions(tenant, id))
            .arg(id.as_str())
            .arg(version.map(|v| v.to_string()).unwrap_or_default())
            .invoke_async(&mut self.conn.clone())
            .await?;
        let [summary, stored] = <[String; 2]>::try_from(found).unwrap_or_default();
        if summary.is_empty() {
            return Ok(TemplateLookup::NoTemplate);
        }
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
    pub async fn delete(&self, tenant: &TenantId, id: &TemplateId) -> Result<bool, StoreError> {
        let deleted: i64 = DELETE
            .key(keys::templates(tenant))
            .key(keys::template_order(tenant))
            .key(keys::template_versions(tenant, id))
            .arg(id.as_str())
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(deleted == 1)
    }

    /// A page of the tenant's templates, newest first, after `cursor` (the last id
    /// of the previous page). `limit` is clamped to 1..=1000.
    pub async fn list(
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
            .invoke_async(&mut self.conn.clone())
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
