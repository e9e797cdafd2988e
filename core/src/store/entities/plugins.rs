//! Uploaded plugins; a workspace's pipeline: its settings per hook, the
//! history of its versions and its staged rollout; and what plugins did:
//! faults and the plugin log.

pub mod plugin {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "plugins")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub name: String,
        pub sha256: String,
        pub size_bytes: i64,
        #[serde(with = "crate::store::export::base64_bytes")]
        pub wasm: Vec<u8>,
        /// Comma-separated hook names.
        pub hooks: String,
        pub uploaded_by: String,
        pub created_at: DateTimeUtc,
        /// What a 0.2.0 plugin's `describe` said (JSON), when it has one.
        pub manifest: Option<String>,
    }
    no_relations!();
}

pub mod pipeline_version {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "pipeline_versions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i64,
        /// The pipeline as `PUT /api/v1/pipeline` takes it (JSON).
        pub hooks: String,
        pub changed_by: String,
        pub changed_by_name: String,
        pub changed_at: DateTimeUtc,
        /// Set by a rollback: which version it restored.
        pub note: Option<String>,
    }
    no_relations!();
}

pub mod pipeline_hook {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "pipeline_hooks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub hook: String,
        pub plugin: String,
        /// JSON object of string values.
        pub config: String,
        pub policy: String,
        pub fuel: i64,
        pub timeout_ms: i32,
        pub memory_bytes: i64,
        pub updated_at: DateTimeUtc,
        /// JSON array of the hosts the plugin may call (`host` or
        /// `host:port`). Exports written before it had this read as none.
        #[serde(default = "no_hosts")]
        pub allowed_hosts: String,
        /// JSON object of settings the API takes but never shows (an API
        /// key); the plugin gets them with the others.
        #[serde(default = "no_secrets")]
        pub secrets: String,
    }
    no_relations!();

    fn no_hosts() -> String {
        "[]".to_owned()
    }

    fn no_secrets() -> String {
        "{}".to_owned()
    }
}

/// A workspace's staged rollout of a candidate pipeline (one at most: the
/// workspace is the key).
pub mod pipeline_rollout {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "pipeline_rollouts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        pub id: String,
        /// The candidate, as the pipeline's history stores a version.
        pub hooks: String,
        pub percent: i32,
        pub max_fault_rate: f64,
        pub min_calls: i32,
        /// The pipeline version it was started at (its history entry).
        pub base_version: i64,
        pub started_by: String,
        pub started_by_name: String,
        pub started_at: DateTimeUtc,
        pub current_calls: i64,
        pub current_faults: i64,
        pub candidate_calls: i64,
        pub candidate_faults: i64,
        /// The candidate's last `min_calls` outcomes, oldest first: `1` a
        /// call with a fault, `0` one without.
        pub recent: String,
    }
    no_relations!();
}

/// A line a workspace's plugin wrote to its log, or one call's outcome.
pub mod plugin_log {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "plugin_logs")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: String,
        pub at: DateTimeUtc,
        pub plugin: String,
        pub plugin_name: String,
        pub hook: String,
        /// `debug`, `info`, `warn` or `error` for a line; `call` for a
        /// call's outcome.
        pub level: String,
        pub message: String,
        pub chat_id: Option<String>,
        /// A call's: `ok` or the fault's kind.
        pub outcome: Option<String>,
        pub fuel: Option<i64>,
        pub elapsed_ms: Option<f64>,
    }
    no_relations!();
}

pub mod plugin_fault {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "plugin_faults")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub hook: String,
        pub plugin: String,
        pub plugin_name: String,
        pub chat_id: Option<String>,
        pub reason: String,
        pub outcome: String,
        pub created_at: DateTimeUtc,
    }
    no_relations!();
}
