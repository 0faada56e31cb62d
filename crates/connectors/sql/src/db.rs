//! The connection pool of one system, and the few operations the source and sink need,
//! written once per backend: run a query and decode its rows into [`Val`]s, run statements in
//! one transaction, and classify errors.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use ferry_model::{ConnectorError, ErrorKind};
use rust_decimal::Decimal;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Column, Row, TypeInfo, ValueRef};
use tokio::sync::OnceCell;

use crate::dialect::Backend;
use crate::value::{ColClass, Val};

/// Connection options, parsed at build time (no I/O).
#[derive(Debug, Clone)]
pub enum Options {
    Pg(PgConnectOptions),
    My(MySqlConnectOptions),
    Lite(SqliteConnectOptions),
}

#[derive(Debug, Clone)]
enum Pool {
    Pg(PgPool),
    My(MySqlPool),
    Lite(SqlitePool),
}

/// A lazily opened pool plus what is needed to keep secrets out of messages.
#[derive(Debug)]
pub struct Db {
    pub backend: Backend,
    options: Options,
    max_connections: u32,
    connect_timeout: Duration,
    pool: OnceCell<Pool>,
    /// Shown instead of the URL in messages.
    pub display: String,
    secrets: Vec<String>,
    /// The same database opened only to look (see [`probe_options`]), when opening it for a
    /// run could change it.
    probe: Option<Box<Db>>,
}

/// A decoded row: column names (shared by the rows of one result) and values.
#[derive(Debug, Clone)]
pub struct DbRow {
    pub columns: Arc<Vec<String>>,
    pub values: Vec<Val>,
}

impl DbRow {
    pub fn get(&self, name: &str) -> Option<&Val> {
        self.columns
            .iter()
            .position(|c| c == name)
            .map(|i| &self.values[i])
    }
}

/// One statement and its parameters, in placeholder order.
#[derive(Debug, Clone)]
pub struct Stmt {
    pub sql: String,
    pub params: Vec<Param>,
}

impl Stmt {
    /// A statement binding one value per placeholder.
    pub fn new(sql: String, params: Vec<Val>) -> Self {
        Self {
            sql,
            params: params.into_iter().map(Param::One).collect(),
        }
    }
}

/// One bind parameter.
#[derive(Debug, Clone)]
pub enum Param {
    One(Val),
    /// A whole column bound as one PostgreSQL array (see [`PgArray`]).
    PgArray(PgArray),
}

/// A column of values bound as one PostgreSQL array, for `INSERT … SELECT … FROM
/// UNNEST($1::text[], …)`: a batch of any size binds one parameter per column, so the
/// statement text is the same for every batch (prepared once) and PostgreSQL does not parse
/// and plan a multi-row `VALUES` list of thousands of parameters each time.
#[derive(Debug, Clone)]
pub enum PgArray {
    Text(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Dec(Vec<Option<Decimal>>),
    Bool(Vec<Option<bool>>),
    Date(Vec<Option<NaiveDate>>),
    Time(Vec<Option<NaiveTime>>),
    Ts(Vec<Option<DateTime<Utc>>>),
    NaiveTs(Vec<Option<NaiveDateTime>>),
    Json(Vec<Option<serde_json::Value>>),
    Bytes(Vec<Option<Vec<u8>>>),
}

impl PgArray {
    /// The array of these cells for a column of `class`, or `None` when a cell is not of the
    /// type the column's other cells bind as (the caller then binds cell by cell). Classes
    /// bound as text with a cast (`Other`) make a text array; the caller casts each element.
    pub fn of<'a>(class: &ColClass, cells: impl Iterator<Item = &'a Val>) -> Option<PgArray> {
        /// Collects the cells of one variant of `Val` into one variant of `PgArray`; NULLs of
        /// any kind are `None`, a cell of another variant makes no array.
        macro_rules! collect {
            ($val:ident => $array:ident, |$v:ident| $take:expr) => {
                cells
                    .map(|cell| match cell {
                        Val::Null | Val::NullAs(_) => Some(None),
                        Val::$val($v) => $take.map(Some),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()
                    .map(PgArray::$array)
            };
        }
        match class {
            ColClass::Text | ColClass::Other(_) => collect!(Text => Text, |s| Some(s.clone())),
            ColClass::Int => cells
                .map(|cell| match cell {
                    Val::Null | Val::NullAs(_) => Some(None),
                    Val::Int(i) => Some(Some(*i)),
                    Val::UInt(u) => i64::try_from(*u).ok().map(Some),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .map(PgArray::Int),
            ColClass::Float => collect!(Float => Float, |f| Some(*f)),
            ColClass::Decimal(_) => collect!(Dec => Dec, |d| Some(*d)),
            ColClass::Bool => collect!(Bool => Bool, |b| Some(*b)),
            ColClass::Date => collect!(Date => Date, |d| Some(*d)),
            ColClass::Time => collect!(Time => Time, |t| Some(*t)),
            ColClass::Timestamp => collect!(NaiveTs => NaiveTs, |t| Some(*t)),
            ColClass::TimestampTz => collect!(Ts => Ts, |t| Some(*t)),
            ColClass::Json => collect!(Json => Json, |j| Some(j.clone())),
            ColClass::Bytes => collect!(Bytes => Bytes, |b| Some(b.clone())),
        }
    }

    /// The array type named in the statement (`$n::text[]`).
    pub fn sql_type(&self) -> &'static str {
        match self {
            PgArray::Text(_) => "text[]",
            PgArray::Int(_) => "int8[]",
            PgArray::Float(_) => "float8[]",
            PgArray::Dec(_) => "numeric[]",
            PgArray::Bool(_) => "bool[]",
            PgArray::Date(_) => "date[]",
            PgArray::Time(_) => "time[]",
            PgArray::Ts(_) => "timestamptz[]",
            PgArray::NaiveTs(_) => "timestamp[]",
            PgArray::Json(_) => "jsonb[]",
            PgArray::Bytes(_) => "bytea[]",
        }
    }
}

impl Db {
    pub fn new(
        backend: Backend,
        options: Options,
        max_connections: u32,
        connect_timeout: Duration,
        display: String,
        secrets: Vec<String>,
    ) -> Self {
        Self {
            backend,
            options,
            max_connections,
            connect_timeout,
            pool: OnceCell::new(),
            display,
            secrets,
            probe: None,
        }
    }

    /// Sets the options [`Db::probing`] opens the database with (from [`probe_options`]).
    #[must_use]
    pub fn with_probe(mut self, options: Option<Options>) -> Self {
        self.probe = options.map(|o| {
            Box::new(Db::new(
                self.backend,
                o,
                1,
                self.connect_timeout,
                self.display.clone(),
                self.secrets.clone(),
            ))
        });
        self
    }

    /// The database to look at without changing it (`ferry check --live`).
    pub fn probing(&self) -> &Db {
        self.probe.as_deref().unwrap_or(self)
    }

    /// A SQLite file that does not exist yet (a run creates it; a probe must not).
    pub fn missing_file(&self) -> Option<std::path::PathBuf> {
        match &self.options {
            Options::Lite(o) => {
                let file = o.get_filename();
                (file != std::path::Path::new(":memory:") && !file.exists())
                    .then(|| file.to_path_buf())
            }
            _ => None,
        }
    }

    async fn pool(&self) -> &Pool {
        self.pool
            .get_or_init(|| async {
                let n = self.max_connections;
                let t = self.connect_timeout;
                match &self.options {
                    Options::Pg(o) => Pool::Pg(
                        PgPoolOptions::new()
                            .max_connections(n)
                            .acquire_timeout(t)
                            .connect_lazy_with(o.clone()),
                    ),
                    Options::My(o) => Pool::My(
                        MySqlPoolOptions::new()
                            .max_connections(n)
                            .acquire_timeout(t)
                            .connect_lazy_with(o.clone()),
                    ),
                    Options::Lite(o) => Pool::Lite(
                        SqlitePoolOptions::new()
                            .max_connections(n)
                            .acquire_timeout(t)
                            .connect_lazy_with(o.clone()),
                    ),
                }
            })
            .await
    }

    /// Runs a query and decodes every row.
    pub async fn query(&self, sql: &str, params: Vec<Val>) -> Result<Vec<DbRow>, ConnectorError> {
        self.query_raw(sql, params)
            .await
            .map_err(|e| self.error(&e))
    }

    async fn query_raw(&self, sql: &str, params: Vec<Val>) -> Result<Vec<DbRow>, sqlx::Error> {
        tracing::trace!(target: "ferry::sql", %sql, params = params.len(), "query");
        match self.pool().await {
            Pool::Pg(pool) => {
                let mut q = sqlx::query(AssertSqlSafe(sql.to_owned()));
                for v in params {
                    q = bind_pg(q, v);
                }
                let rows = q.fetch_all(pool).await?;
                decode_rows(&rows, decode_pg)
            }
            Pool::My(pool) => {
                let mut q = sqlx::query(AssertSqlSafe(sql.to_owned()));
                for v in params {
                    q = bind_my(q, v);
                }
                let rows = q.fetch_all(pool).await?;
                decode_rows(&rows, decode_my)
            }
            Pool::Lite(pool) => {
                let mut q = sqlx::query(AssertSqlSafe(sql.to_owned()));
                for v in params {
                    q = bind_lite(q, v);
                }
                let rows = q.fetch_all(pool).await?;
                decode_rows(&rows, decode_lite)
            }
        }
    }

    /// Runs the statements in one transaction (all or nothing). The raw error is returned so
    /// that the caller can classify it against the record it was writing. A single statement
    /// runs on its own, which is as atomic and spares the `BEGIN` and `COMMIT` round trips.
    pub async fn transaction(&self, mut stmts: Vec<Stmt>) -> Result<(), sqlx::Error> {
        macro_rules! run {
            ($pool:expr, $bind:ident) => {{
                if stmts.len() == 1 {
                    let Stmt { sql, params } = stmts.remove(0);
                    tracing::trace!(target: "ferry::sql", %sql, params = params.len(), "execute");
                    let mut q = sqlx::query(AssertSqlSafe(sql));
                    for p in params {
                        q = $bind(q, p)?;
                    }
                    q.execute($pool).await?;
                    return Ok(());
                }
                let mut tx = $pool.begin().await?;
                for Stmt { sql, params } in stmts {
                    tracing::trace!(target: "ferry::sql", %sql, params = params.len(), "execute");
                    let mut q = sqlx::query(AssertSqlSafe(sql));
                    for p in params {
                        q = $bind(q, p)?;
                    }
                    q.execute(&mut *tx).await?;
                }
                tx.commit().await
            }};
        }
        match self.pool().await {
            Pool::Pg(pool) => run!(pool, bind_pg_param),
            Pool::My(pool) => run!(pool, bind_my_param),
            Pool::Lite(pool) => run!(pool, bind_lite_param),
        }
    }

    /// Runs one statement outside a transaction (DDL).
    pub async fn execute(&self, sql: &str) -> Result<(), ConnectorError> {
        self.transaction(vec![Stmt::new(sql.to_owned(), Vec::new())])
            .await
            .map_err(|e| self.error(&e))
    }

    /// Removes secrets from a message.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            if !s.is_empty() {
                out = out.replace(s.as_str(), "****");
            }
        }
        out
    }

    /// A classified, secret-free error naming the database.
    pub fn error(&self, err: &sqlx::Error) -> ConnectorError {
        let (kind, message) = classify(err);
        ConnectorError::new(
            kind,
            format!(
                "{} {}: {}",
                self.backend.name(),
                self.display,
                self.redact(&message)
            ),
        )
    }

    /// The classification and database message of an error, secrets removed.
    pub fn classify(&self, err: &sqlx::Error) -> (ErrorKind, String) {
        let (kind, message) = classify(err);
        (kind, self.redact(&message))
    }
}

fn decode_rows<R: Row>(
    rows: &[R],
    decode: fn(&R, usize) -> Val,
) -> Result<Vec<DbRow>, sqlx::Error> {
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let columns: Arc<Vec<String>> = Arc::new(
        first
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect(),
    );
    Ok(rows
        .iter()
        .map(|row| DbRow {
            columns: columns.clone(),
            values: (0..columns.len()).map(|i| decode(row, i)).collect(),
        })
        .collect())
}

macro_rules! get {
    ($row:expr, $i:expr, $t:ty, $wrap:expr) => {
        match $row.try_get::<Option<$t>, _>($i) {
            Ok(Some(v)) => Some($wrap(v)),
            Ok(None) => Some(Val::Null),
            Err(_) => None,
        }
    };
}

fn fallback<R>(row: &R, i: usize) -> Val
where
    R: Row,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    get!(row, i, String, Val::Text)
        .or_else(|| get!(row, i, Vec<u8>, Val::Bytes))
        .unwrap_or(Val::Null)
}

fn decode_pg(row: &PgRow, i: usize) -> Val {
    let name = row.columns()[i].type_info().name();
    let v = match name {
        "BOOL" => get!(row, i, bool, Val::Bool),
        "INT2" => get!(row, i, i16, |v| Val::Int(i64::from(v))),
        "INT4" => get!(row, i, i32, |v| Val::Int(i64::from(v))),
        "INT8" => get!(row, i, i64, Val::Int),
        "OID" => get!(
            row,
            i,
            sqlx::postgres::types::Oid,
            |v: sqlx::postgres::types::Oid| Val::Int(i64::from(v.0))
        ),
        "FLOAT4" => get!(row, i, f32, |v| Val::Float(f64::from(v))),
        "FLOAT8" => get!(row, i, f64, Val::Float),
        "NUMERIC" => get!(row, i, Decimal, Val::Dec),
        "DATE" => get!(row, i, NaiveDate, Val::Date),
        "TIME" => get!(row, i, NaiveTime, Val::Time),
        "TIMESTAMP" => get!(row, i, NaiveDateTime, Val::NaiveTs),
        "TIMESTAMPTZ" => get!(row, i, DateTime<Utc>, Val::Ts),
        "JSON" | "JSONB" => get!(row, i, serde_json::Value, Val::Json),
        "BYTEA" => get!(row, i, Vec<u8>, Val::Bytes),
        _ => None,
    };
    v.unwrap_or_else(|| fallback(row, i))
}

fn decode_my(row: &MySqlRow, i: usize) -> Val {
    let name = row.columns()[i].type_info().name();
    let v = match name {
        "BOOLEAN" => get!(row, i, bool, Val::Bool),
        "TINYINT" | "SMALLINT" | "INT" | "MEDIUMINT" | "BIGINT" | "YEAR" => {
            get!(row, i, i64, Val::Int)
        }
        n if n.ends_with("UNSIGNED") => get!(row, i, u64, Val::UInt),
        "BIT" => get!(row, i, u64, Val::UInt),
        "FLOAT" => get!(row, i, f32, |v| Val::Float(f64::from(v))),
        "DOUBLE" => get!(row, i, f64, Val::Float),
        "DECIMAL" => get!(row, i, Decimal, Val::Dec),
        "DATE" => get!(row, i, NaiveDate, Val::Date),
        "TIME" => get!(row, i, NaiveTime, Val::Time),
        "DATETIME" => get!(row, i, NaiveDateTime, Val::NaiveTs),
        "TIMESTAMP" => get!(row, i, DateTime<Utc>, Val::Ts),
        "JSON" => get!(row, i, serde_json::Value, Val::Json),
        "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" => {
            get!(row, i, Vec<u8>, Val::Bytes)
        }
        _ => None,
    };
    v.unwrap_or_else(|| fallback(row, i))
}

/// SQLite: decode by the value's storage class; the declared type is applied later.
fn decode_lite(row: &SqliteRow, i: usize) -> Val {
    let storage = match row.try_get_raw(i) {
        Ok(raw) if raw.is_null() => return Val::Null,
        Ok(raw) => raw.type_info().name().to_owned(),
        Err(_) => return Val::Null,
    };
    let v = match storage.as_str() {
        "INTEGER" => get!(row, i, i64, Val::Int),
        "REAL" => get!(row, i, f64, Val::Float),
        "BLOB" => get!(row, i, Vec<u8>, Val::Bytes),
        _ => None,
    };
    v.unwrap_or_else(|| fallback(row, i))
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;
type MyQuery<'q> = sqlx::query::Query<'q, sqlx::MySql, sqlx::mysql::MySqlArguments>;
type LiteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

/// Binds one parameter of a statement for PostgreSQL.
fn bind_pg_param(q: PgQuery<'_>, p: Param) -> Result<PgQuery<'_>, sqlx::Error> {
    Ok(match p {
        Param::One(v) => bind_pg(q, v),
        Param::PgArray(a) => match a {
            PgArray::Text(v) => q.bind(v),
            PgArray::Int(v) => q.bind(v),
            PgArray::Float(v) => q.bind(v),
            PgArray::Dec(v) => q.bind(v),
            PgArray::Bool(v) => q.bind(v),
            PgArray::Date(v) => q.bind(v),
            PgArray::Time(v) => q.bind(v),
            PgArray::Ts(v) => q.bind(v),
            PgArray::NaiveTs(v) => q.bind(v),
            PgArray::Json(v) => q.bind(v),
            PgArray::Bytes(v) => q.bind(v),
        },
    })
}

/// Array parameters are PostgreSQL's: the sink builds them for no other backend.
fn one_value(p: Param) -> Result<Val, sqlx::Error> {
    match p {
        Param::One(v) => Ok(v),
        Param::PgArray(_) => Err(sqlx::Error::InvalidArgument(
            "array parameters are only bound for PostgreSQL".into(),
        )),
    }
}

fn bind_my_param(q: MyQuery<'_>, p: Param) -> Result<MyQuery<'_>, sqlx::Error> {
    Ok(bind_my(q, one_value(p)?))
}

fn bind_lite_param(q: LiteQuery<'_>, p: Param) -> Result<LiteQuery<'_>, sqlx::Error> {
    Ok(bind_lite(q, one_value(p)?))
}

fn bind_pg(q: PgQuery<'_>, v: Val) -> PgQuery<'_> {
    match v {
        Val::Null => q.bind(None::<String>),
        Val::NullAs(class) => match class {
            ColClass::Int => q.bind(None::<i64>),
            ColClass::Float => q.bind(None::<f64>),
            ColClass::Decimal(_) => q.bind(None::<Decimal>),
            ColClass::Bool => q.bind(None::<bool>),
            ColClass::Date => q.bind(None::<NaiveDate>),
            ColClass::Time => q.bind(None::<NaiveTime>),
            ColClass::Timestamp => q.bind(None::<NaiveDateTime>),
            ColClass::TimestampTz => q.bind(None::<DateTime<Utc>>),
            ColClass::Json => q.bind(None::<serde_json::Value>),
            ColClass::Bytes => q.bind(None::<Vec<u8>>),
            ColClass::Text | ColClass::Other(_) => q.bind(None::<String>),
        },
        Val::Bool(b) => q.bind(b),
        Val::Int(i) => q.bind(i),
        Val::UInt(u) => match i64::try_from(u) {
            Ok(i) => q.bind(i),
            Err(_) => q.bind(Decimal::from(u)),
        },
        Val::Float(f) => q.bind(f),
        Val::Dec(d) => q.bind(d),
        Val::Text(s) => q.bind(s),
        Val::Bytes(b) => q.bind(b),
        Val::Date(d) => q.bind(d),
        Val::Time(t) => q.bind(t),
        Val::Ts(t) => q.bind(t),
        Val::NaiveTs(t) => q.bind(t),
        Val::Json(j) => q.bind(sqlx::types::Json(j)),
    }
}

fn bind_my(q: MyQuery<'_>, v: Val) -> MyQuery<'_> {
    match v {
        Val::Null | Val::NullAs(_) => q.bind(None::<String>),
        Val::Bool(b) => q.bind(b),
        Val::Int(i) => q.bind(i),
        Val::UInt(u) => q.bind(u),
        Val::Float(f) => q.bind(f),
        Val::Dec(d) => q.bind(d),
        Val::Text(s) => q.bind(s),
        Val::Bytes(b) => q.bind(b),
        Val::Date(d) => q.bind(d),
        Val::Time(t) => q.bind(t),
        Val::Ts(t) => q.bind(t),
        Val::NaiveTs(t) => q.bind(t),
        Val::Json(j) => q.bind(j.to_string()),
    }
}

/// SQLite stores dates and timestamps as ISO text (`YYYY-MM-DD HH:MM:SS[.fff]`, UTC), the
/// layout of its own `CURRENT_TIMESTAMP`; decimals as text (the column's affinity decides).
fn bind_lite(q: LiteQuery<'_>, v: Val) -> LiteQuery<'_> {
    match v {
        Val::Null | Val::NullAs(_) => q.bind(None::<String>),
        Val::Bool(b) => q.bind(b),
        Val::Int(i) => q.bind(i),
        Val::UInt(u) => match i64::try_from(u) {
            Ok(i) => q.bind(i),
            Err(_) => q.bind(u.to_string()),
        },
        Val::Float(f) => q.bind(f),
        Val::Dec(d) => q.bind(d.to_string()),
        Val::Text(s) => q.bind(s),
        Val::Bytes(b) => q.bind(b),
        Val::Date(d) => q.bind(d.format("%Y-%m-%d").to_string()),
        Val::Time(t) => q.bind(t.format("%H:%M:%S%.f").to_string()),
        Val::Ts(t) => q.bind(t.naive_utc().format("%Y-%m-%d %H:%M:%S%.f").to_string()),
        Val::NaiveTs(t) => q.bind(t.format("%Y-%m-%d %H:%M:%S%.f").to_string()),
        Val::Json(j) => q.bind(j.to_string()),
    }
}

/// Builds connection options from a URL. `base_dir` resolves relative SQLite paths.
pub fn options(backend: Backend, url: &str, base_dir: &std::path::Path) -> Result<Options, String> {
    Ok(match backend {
        Backend::Postgres => {
            Options::Pg(PgConnectOptions::from_str(url).map_err(|e| e.to_string())?)
        }
        Backend::MySql => {
            let url = match url.split_once(':') {
                Some((scheme, rest)) if scheme.eq_ignore_ascii_case("mariadb") => {
                    format!("mysql:{rest}")
                }
                _ => url.to_owned(),
            };
            Options::My(MySqlConnectOptions::from_str(&url).map_err(|e| e.to_string())?)
        }
        Backend::Sqlite => {
            let (mut o, memory, read_only) = sqlite_options(url, base_dir)?;
            if !read_only {
                o = o.create_if_missing(true);
            }
            if !memory {
                o = o.journal_mode(SqliteJournalMode::Wal);
            }
            Options::Lite(
                o.synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10)),
            )
        }
    })
}

/// Options that only look: for a SQLite file, opened read-only, never created and its
/// journal mode left alone (a live check must not change the file); `None` for the others,
/// whose connections change nothing by opening, and for `:memory:`.
pub fn probe_options(
    backend: Backend,
    url: &str,
    base_dir: &std::path::Path,
) -> Result<Option<Options>, String> {
    if backend != Backend::Sqlite {
        return Ok(None);
    }
    let (o, memory, _) = sqlite_options(url, base_dir)?;
    Ok((!memory).then(|| {
        Options::Lite(
            o.read_only(true)
                .create_if_missing(false)
                .busy_timeout(Duration::from_secs(10)),
        )
    }))
}

/// A SQLite URL's options before the run's choices, whether it is `:memory:`, and whether
/// it asks for `mode=ro`.
fn sqlite_options(
    url: &str,
    base_dir: &std::path::Path,
) -> Result<(SqliteConnectOptions, bool, bool), String> {
    let rest = url.split_once(':').map(|x| x.1).unwrap_or_default();
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.is_empty() {
        return Err("the SQLite URL names no file (`sqlite://path/to/file.db`)".to_owned());
    }
    let memory = path == ":memory:";
    let full = if memory || std::path::Path::new(path).is_absolute() {
        path.to_owned()
    } else {
        base_dir.join(path).to_string_lossy().into_owned()
    };
    let mut text = format!("sqlite://{full}");
    if let Some(q) = query {
        text.push('?');
        text.push_str(q);
    }
    let o = SqliteConnectOptions::from_str(&text).map_err(|e| e.to_string())?;
    let read_only = query.is_some_and(|q| q.split('&').any(|kv| kv == "mode=ro"));
    Ok((o, memory, read_only))
}

/// Classifies an sqlx error and extracts the database's own message.
pub fn classify(err: &sqlx::Error) -> (ErrorKind, String) {
    use sqlx::Error as E;
    match err {
        E::Io(e) => (ErrorKind::Retryable, format!("I/O error: {e}")),
        E::PoolTimedOut => (
            ErrorKind::Retryable,
            "timed out waiting for a connection".to_owned(),
        ),
        E::PoolClosed | E::WorkerCrashed => (ErrorKind::Retryable, err.to_string()),
        E::Tls(e) => (ErrorKind::Retryable, format!("TLS error: {e}")),
        E::Protocol(e) => (ErrorKind::Retryable, format!("protocol error: {e}")),
        E::Configuration(e) => (ErrorKind::Fatal, format!("bad connection settings: {e}")),
        E::Database(db) => {
            let message = db.message().to_owned();
            (classify_db(db.as_ref(), &message), message)
        }
        E::ColumnDecode { .. } | E::Decode(_) => {
            (ErrorKind::Fatal, format!("cannot read a value: {err}"))
        }
        E::Encode(_) => (ErrorKind::Validation, err.to_string()),
        _ => (ErrorKind::Fatal, err.to_string()),
    }
}

fn classify_db(db: &dyn sqlx::error::DatabaseError, message: &str) -> ErrorKind {
    let lower = message.to_ascii_lowercase();
    if lower.contains("too many connections") || lower.contains("database is locked") {
        return ErrorKind::Retryable;
    }
    if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        match my.number() {
            1205
            | 1213
            | 1040
            | 1053
            | 1077
            | 1152
            | 1158..=1161
            | 1927
            | 2002
            | 2003
            | 2006
            | 2013
            | 1969 => {
                return ErrorKind::Retryable;
            }
            1044 | 1045 | 1698 => return ErrorKind::Auth,
            1048 | 1062 | 1263 | 1264 | 1265 | 1292 | 1364 | 1366 | 1367 | 1406 | 1416 | 1451
            | 1452 | 1690 | 3819 | 4025 | 1411 | 3140 => return ErrorKind::Validation,
            1046 | 1049 | 1051 | 1054 | 1064 | 1146 | 1142 | 1143 => return ErrorKind::Fatal,
            _ => {}
        }
    }
    if let Some(lite) = db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
        let code = sqlx::error::DatabaseError::code(lite)
            .and_then(|c| c.parse::<i32>().ok())
            .unwrap_or(1);
        return match code & 0xff {
            5 | 6 | 10 | 13 | 15 => ErrorKind::Retryable,
            18 | 19 | 20 | 25 => ErrorKind::Validation,
            23 => ErrorKind::Auth,
            _ => ErrorKind::Fatal,
        };
    }
    let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
    match code.get(..2) {
        Some("08" | "40" | "53") => ErrorKind::Retryable,
        Some("57") if code.starts_with("57P") || code == "57014" => ErrorKind::Retryable,
        Some("23" | "22") => ErrorKind::Validation,
        Some("28") => ErrorKind::Auth,
        _ => ErrorKind::Fatal,
    }
}

/// One column of a table, from the catalogue.
#[derive(Debug, Clone)]
pub(crate) struct ColumnMeta {
    pub name: String,
    pub class: ColClass,
}

/// The columns of `table` in order; empty when the table does not exist.
pub(crate) async fn table_columns(db: &Db, table: &str) -> Result<Vec<ColumnMeta>, ConnectorError> {
    let (schema, name) = crate::dialect::split_table(table);
    let sql = db.backend.columns_sql(schema);
    let params = match db.backend {
        Backend::Sqlite => vec![Val::Text(name.to_owned())],
        _ => vec![
            schema
                .map(|s| Val::Text(s.to_owned()))
                .unwrap_or(Val::NullAs(ColClass::Text)),
            Val::Text(name.to_owned()),
        ],
    };
    let rows = db.query(&sql, params).await?;
    Ok(rows
        .iter()
        .map(|row| {
            let text = |i: usize| row.values.get(i).and_then(Val::as_text).unwrap_or_default();
            let scale = row.values.get(4).and_then(Val::as_i64);
            ColumnMeta {
                name: text(0),
                class: db.backend.classify(&text(1), &text(2), scale),
            }
        })
        .collect())
}
