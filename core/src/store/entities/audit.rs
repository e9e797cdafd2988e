//! The audit log, and the leases of background jobs that one node runs at
//! a time.

/// One thing someone did that a workspace's admins may have to account
/// for: append-only (nothing updates a row; the retention job deletes
/// rows past `--audit-retention-days`).
pub mod audit_entry {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "audit_log")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub at: DateTimeUtc,
        /// `agent`, `operator` or `system`.
        pub actor_kind: String,
        pub actor_id: Option<String>,
        pub actor_name: String,
        pub action: String,
        /// What it was done to: an agent's, a contact's or a plugin's id.
        pub target: Option<String>,
        /// JSON: what changed, never the personal data touched.
        pub detail: String,
    }
    no_relations!();
}

/// A job's lease: the node whose `owner` is written here runs the job
/// until `until`, and renews it while it runs.
pub mod job_lease {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "job_leases")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub owner: Option<String>,
        pub until: Option<DateTimeUtc>,
    }
    no_relations!();
}
