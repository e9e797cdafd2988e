//! Raw SQL for tests and benchmarks that look at the database directly,
//! written with PostgreSQL's `$1` placeholders and run on either backend.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement, Value};

pub async fn exec(db: &DatabaseConnection, sql: &str, values: Vec<Value>) {
    db.execute_raw(statement(db, sql, values))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

pub async fn query(db: &DatabaseConnection, sql: &str, values: Vec<Value>) -> Vec<QueryResult> {
    db.query_all_raw(statement(db, sql, values))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn statement(db: &DatabaseConnection, sql: &str, values: Vec<Value>) -> Statement {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => sql.to_owned(),
        // `?1` is SQLite's numbered placeholder.
        _ => sql.replace('$', "?"),
    };
    Statement::from_sql_and_values(backend, sql, values)
}
