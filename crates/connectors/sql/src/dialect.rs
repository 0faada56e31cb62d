//! What differs between PostgreSQL, MariaDB/MySQL and SQLite: quoting, placeholders, upsert
//! syntax, NULL ordering, catalogue queries and type names.

use crate::value::ColClass;

/// The database family behind a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    MySql,
    Sqlite,
}

impl Backend {
    /// The backend named by a URL's scheme.
    pub fn from_url(url: &str) -> Option<Backend> {
        let scheme = url.split_once(':')?.0.to_ascii_lowercase();
        match scheme.as_str() {
            "postgres" | "postgresql" => Some(Backend::Postgres),
            "mysql" | "mariadb" => Some(Backend::MySql),
            "sqlite" => Some(Backend::Sqlite),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "PostgreSQL",
            Backend::MySql => "MariaDB/MySQL",
            Backend::Sqlite => "SQLite",
        }
    }

    /// One identifier, quoted and escaped.
    pub fn ident(self, name: &str) -> String {
        match self {
            Backend::MySql => format!("`{}`", name.replace('`', "``")),
            _ => format!("\"{}\"", name.replace('"', "\"\"")),
        }
    }

    /// A table name that may be `schema.table`.
    pub fn table(self, name: &str) -> String {
        let (schema, table) = split_table(name);
        match schema {
            Some(schema) => format!("{}.{}", self.ident(schema), self.ident(table)),
            None => self.ident(table),
        }
    }

    /// The `n`-th (1-based) bind placeholder.
    pub fn placeholder(self, n: usize) -> String {
        match self {
            Backend::Postgres => format!("${n}"),
            _ => "?".to_owned(),
        }
    }

    /// A placeholder for a value written into a column of `class` (PostgreSQL needs a cast
    /// for types we bind as text, such as uuid or enums).
    pub fn placeholder_for(self, n: usize, class: &ColClass) -> String {
        match (self, class) {
            (Backend::Postgres, ColClass::Other(ty)) => format!("CAST(${n} AS {})", self.ident(ty)),
            _ => self.placeholder(n),
        }
    }

    /// Most bind parameters one statement may carry (with margin).
    pub fn max_binds(self) -> usize {
        match self {
            Backend::Postgres | Backend::MySql => 60_000,
            Backend::Sqlite => 30_000,
        }
    }

    /// `ORDER BY` term for a nullable watermark, NULLs first.
    pub fn asc_nulls_first(self, column: &str) -> String {
        match self {
            Backend::Postgres => format!("{column} ASC NULLS FIRST"),
            _ => format!("{column} ASC"),
        }
    }

    /// The clause that turns `INSERT INTO t (cols) VALUES …` into an upsert on `key`.
    pub fn upsert_clause(self, key: &str, columns: &[String]) -> String {
        let others: Vec<&String> = columns.iter().filter(|c| c.as_str() != key).collect();
        let k = self.ident(key);
        match self {
            Backend::MySql => {
                let sets: Vec<String> = if others.is_empty() {
                    vec![format!("{k} = {k}")]
                } else {
                    others
                        .iter()
                        .map(|c| format!("{0} = VALUES({0})", self.ident(c)))
                        .collect()
                };
                format!(" ON DUPLICATE KEY UPDATE {}", sets.join(", "))
            }
            _ => {
                if others.is_empty() {
                    format!(" ON CONFLICT ({k}) DO NOTHING")
                } else {
                    let sets: Vec<String> = others
                        .iter()
                        .map(|c| format!("{0} = EXCLUDED.{0}", self.ident(c)))
                        .collect();
                    format!(" ON CONFLICT ({k}) DO UPDATE SET {}", sets.join(", "))
                }
            }
        }
    }

    /// Column type for `create_table`: TEXT, and a key MySQL can index.
    pub fn text_type(self, key: bool) -> &'static str {
        match (self, key) {
            (Backend::MySql, true) => "VARCHAR(255)",
            _ => "TEXT",
        }
    }

    /// Catalogue query for one table's columns: rows of (name, type, udt, nullable, scale).
    /// Binds: PG/MySQL (schema or NULL, table); SQLite (table).
    pub fn columns_sql(self, schema: Option<&str>) -> String {
        match self {
            Backend::Postgres => "SELECT column_name::text, data_type::text, udt_name::text, is_nullable::text, \
                 numeric_scale::int4 FROM information_schema.columns \
                 WHERE table_schema = COALESCE($1, current_schema()) AND table_name = $2 ORDER BY ordinal_position"
                .to_owned(),
            Backend::MySql => "SELECT CAST(COLUMN_NAME AS CHAR), CAST(DATA_TYPE AS CHAR), CAST(COLUMN_TYPE AS CHAR), \
                 CAST(IS_NULLABLE AS CHAR), CAST(NUMERIC_SCALE AS SIGNED) FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION"
                .to_owned(),
            Backend::Sqlite => match schema {
                Some(s) => format!(
                    "SELECT name, type, type, CASE WHEN \"notnull\" = 1 OR pk > 0 THEN 'NO' ELSE 'YES' END, NULL \
                     FROM pragma_table_info(?, '{}') ORDER BY cid",
                    s.replace('\'', "''")
                ),
                None => "SELECT name, type, type, CASE WHEN \"notnull\" = 1 OR pk > 0 THEN 'NO' ELSE 'YES' END, NULL \
                         FROM pragma_table_info(?) ORDER BY cid"
                    .to_owned(),
            },
        }
    }

    /// Catalogue query listing every (table, column, type, nullable) for `discover`.
    pub fn discover_sql(self) -> &'static str {
        match self {
            Backend::Postgres => {
                "SELECT CASE WHEN c.table_schema = current_schema() THEN c.table_name::text \
                 ELSE c.table_schema::text || '.' || c.table_name::text END, \
                 c.column_name::text, c.data_type::text, c.is_nullable::text \
                 FROM information_schema.columns c JOIN information_schema.tables t \
                 ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
                 WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema') \
                 AND t.table_type IN ('BASE TABLE', 'VIEW') \
                 ORDER BY c.table_schema, c.table_name, c.ordinal_position"
            }
            Backend::MySql => {
                "SELECT CAST(TABLE_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR), CAST(COLUMN_TYPE AS CHAR), \
                 CAST(IS_NULLABLE AS CHAR) FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION"
            }
            Backend::Sqlite => {
                "SELECT m.name, p.name, p.type, CASE WHEN p.\"notnull\" = 1 OR p.pk > 0 THEN 'NO' ELSE 'YES' END \
                 FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid"
            }
        }
    }

    /// The class of a column from the catalogue's type names.
    pub fn classify(self, data_type: &str, full_type: &str, scale: Option<i64>) -> ColClass {
        let dt = data_type.to_ascii_lowercase();
        let full = full_type.to_ascii_lowercase();
        let scale = scale.and_then(|s| u32::try_from(s).ok());
        match self {
            Backend::Postgres => match dt.as_str() {
                "smallint" | "integer" | "bigint" => ColClass::Int,
                "numeric" | "decimal" => ColClass::Decimal(scale),
                "real" | "double precision" => ColClass::Float,
                "boolean" => ColClass::Bool,
                "text" | "character varying" | "character" | "name" | "\"char\"" => ColClass::Text,
                "date" => ColClass::Date,
                "time without time zone" => ColClass::Time,
                "timestamp without time zone" => ColClass::Timestamp,
                "timestamp with time zone" => ColClass::TimestampTz,
                "json" | "jsonb" => ColClass::Json,
                "bytea" => ColClass::Bytes,
                _ => ColClass::Other(full_type.to_owned()),
            },
            Backend::MySql => match dt.as_str() {
                "tinyint" if full.starts_with("tinyint(1)") => ColClass::Bool,
                "bool" | "boolean" => ColClass::Bool,
                "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "year"
                | "bit" => ColClass::Int,
                "decimal" | "numeric" => ColClass::Decimal(scale),
                "float" | "double" | "real" => ColClass::Float,
                "date" => ColClass::Date,
                "time" => ColClass::Time,
                "datetime" => ColClass::Timestamp,
                "timestamp" => ColClass::TimestampTz,
                "json" => ColClass::Json,
                "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
                    ColClass::Bytes
                }
                _ => ColClass::Text,
            },
            Backend::Sqlite => sqlite_class(&full),
        }
    }
}

/// SQLite: the declared type says what a stored value means (affinity rules, refined).
fn sqlite_class(decl: &str) -> ColClass {
    let d = decl.to_ascii_uppercase();
    if d.contains("BOOL") {
        ColClass::Bool
    } else if d.contains("DATETIME") || d.contains("TIMESTAMP") {
        ColClass::Timestamp
    } else if d.contains("DATE") {
        ColClass::Date
    } else if d.starts_with("TIME") {
        ColClass::Time
    } else if d.contains("DEC") || d.contains("NUMERIC") || d.contains("MONEY") {
        let scale = d
            .split_once('(')
            .and_then(|(_, r)| r.split_once(','))
            .and_then(|(_, s)| s.trim_end_matches(')').trim().parse().ok());
        ColClass::Decimal(scale)
    } else if d.contains("JSON") {
        ColClass::Json
    } else if d.contains("INT") {
        ColClass::Int
    } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
        ColClass::Text
    } else if d.contains("BLOB") {
        ColClass::Bytes
    } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
        ColClass::Float
    } else if d.is_empty() {
        ColClass::Other(String::new())
    } else {
        ColClass::Decimal(None)
    }
}

/// `schema.table` → (Some(schema), table).
pub fn split_table(name: &str) -> (Option<&str>, &str) {
    match name.split_once('.') {
        Some((schema, table)) => (Some(schema), table),
        None => (None, name),
    }
}
