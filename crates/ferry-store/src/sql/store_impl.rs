//! The one [`Store`](crate::Store) implementation, instantiated per backend by `impl_store!`.
//!
//! Inside the macro `$db` is the concrete sqlx database (`Sqlite` or `Postgres`), so every
//! statement below is ordinary sqlx code; the dialect differences come from [`super::Dialect`].

/// Column lists as macros so they can be `concat!`ed into `&'static str` statements.
macro_rules! xref_columns {
    () => {
        "flow, source_id, key, target_id, read_hash, written_hash, source_version, updated_at"
    };
}
macro_rules! ledger_columns {
    () => {
        "id, flow, source_id, key, run_id, at, trigger, outcome, attempt, target_id, \
         before_hash, after_hash, source_version, error_kind, error"
    };
}
macro_rules! dead_letter_columns {
    () => {
        "id, flow, source_id, key, payload, error_kind, error, attempts, state, created_at, \
         updated_at"
    };
}
macro_rules! queue_columns {
    () => {
        "id, flow, source_id, trigger, payload, attempts, available_at, last_error, dead_letter_id"
    };
}
macro_rules! run_columns {
    () => {
        "id, flow, trigger, started_at, finished_at, read, created, updated, unchanged, failed, \
         error"
    };
}

macro_rules! impl_store {
    ($db:ident) => {
        impl SqlStore<$db> {
            /// Starts a write transaction (`BEGIN IMMEDIATE` on SQLite).
            async fn begin_write(&self) -> Result<sqlx::Transaction<'static, $db>> {
                Ok(self.write.begin_with(<$db as Dialect>::BEGIN).await?)
            }

            /// The error for a dead letter that is missing or not open.
            async fn not_open(
                tx: &mut sqlx::Transaction<'static, $db>,
                id: i64,
                action: &str,
            ) -> Result<StoreError> {
                let state: Option<String> =
                    sqlx::query_scalar("SELECT state FROM ferry_dead_letters WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&mut **tx)
                        .await?;
                Ok(StoreError::NotFound(match state {
                    None => format!("dead letter {id} does not exist"),
                    Some(state) => format!(
                        "dead letter {id} is {state}; only an open dead letter can be {action}"
                    ),
                }))
            }
        }

        #[async_trait::async_trait]
        impl Store for SqlStore<$db> {
            async fn migrate(&self) -> Result<()> {
                let mut tx = self.begin_write().await?;
                if let Some(lock) = <$db as Dialect>::MIGRATE_LOCK {
                    sqlx::query(lock).execute(&mut *tx).await?;
                }
                sqlx::query(
                    "CREATE TABLE IF NOT EXISTS ferry_meta (schema_version BIGINT NOT NULL)",
                )
                .persistent(false)
                .execute(&mut *tx)
                .await?;
                let current: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(schema_version) FROM ferry_meta")
                        .persistent(false)
                        .fetch_one(&mut *tx)
                        .await?;
                let current = usize::try_from(current.unwrap_or(0))
                    .map_err(|_| StoreError::Corrupt("negative schema version".into()))?;
                let latest = MIGRATIONS.len();
                if current > latest {
                    return Err(StoreError::Corrupt(format!(
                        "schema version {current} is newer than this Ferry knows ({latest})"
                    )));
                }
                if current < latest {
                    for steps in &MIGRATIONS[current..] {
                        for step in *steps {
                            let sql = step.replace("{id}", <$db as Dialect>::ID);
                            sqlx::query(sqlx::AssertSqlSafe(sql))
                                .persistent(false)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                    sqlx::query("DELETE FROM ferry_meta").persistent(false).execute(&mut *tx).await?;
                    sqlx::query("INSERT INTO ferry_meta (schema_version) VALUES ($1)")
                        .bind(latest as i64)
                        .persistent(false)
                        .execute(&mut *tx)
                        .await?;
                    tracing::info!(backend = <$db as sqlx::Database>::NAME, from = current, to = latest, "state store schema migrated");
                }
                tx.commit().await?;
                Ok(())
            }

            async fn cursor(&self, flow: &str) -> Result<Option<String>> {
                let cursor: Option<Option<String>> =
                    sqlx::query_scalar("SELECT cursor FROM ferry_cursors WHERE flow = $1")
                        .bind(flow)
                        .fetch_optional(&self.read)
                        .await?;
                Ok(cursor.flatten())
            }

            async fn reset_cursor(&self, flow: &str) -> Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query("UPDATE ferry_cursors SET cursor = NULL, updated_at = $2 WHERE flow = $1")
                    .bind(flow)
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn xrefs(
                &self,
                flow: &str,
                source_ids: &[String],
            ) -> Result<std::collections::HashMap<String, Xref>> {
                let mut map = std::collections::HashMap::with_capacity(source_ids.len());
                if source_ids.is_empty() {
                    return Ok(map);
                }
                let sql = format!(
                    concat!("SELECT ", xref_columns!(), " FROM ferry_xref WHERE flow = $1 AND {}"),
                    <$db as Dialect>::SOURCE_ID_IN_2
                );
                // One statement per call: the list is a single bind (JSON array / PG array).
                let rows: Vec<XrefRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(flow)
                    .bind(<$db as Dialect>::text_list(source_ids))
                    .fetch_all(&self.read)
                    .await?;
                for row in rows {
                    let xref = row.into_xref()?;
                    map.insert(xref.source_id.clone(), xref);
                }
                Ok(map)
            }

            async fn xrefs_by_key(&self, flow: Option<&str>, key: &str) -> Result<Vec<Xref>> {
                let rows: Vec<XrefRow> = match flow {
                    Some(flow) => sqlx::query_as(concat!(
                        "SELECT ", xref_columns!(),
                        " FROM ferry_xref WHERE key = $1 AND flow = $2 ORDER BY flow, source_id"
                    ))
                    .bind(key)
                    .bind(flow)
                    .fetch_all(&self.read)
                    .await?,
                    None => sqlx::query_as(concat!(
                        "SELECT ", xref_columns!(),
                        " FROM ferry_xref WHERE key = $1 ORDER BY flow, source_id"
                    ))
                    .bind(key)
                    .fetch_all(&self.read)
                    .await?,
                };
                rows.into_iter().map(XrefRow::into_xref).collect()
            }

            async fn commit(&self, flow: &str, commit: Commit) -> Result<()> {
                let now = now_ms();
                let mut tx = self.begin_write().await?;

                if let Some(cursor) = &commit.cursor {
                    sqlx::query(
                        "INSERT INTO ferry_cursors (flow, cursor, updated_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (flow) DO UPDATE SET cursor = excluded.cursor, \
                         updated_at = excluded.updated_at",
                    )
                    .bind(flow)
                    .bind(cursor)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }

                if !commit.xrefs.is_empty() {
                    // The last update of a source id wins (PostgreSQL refuses to touch one row
                    // twice in one INSERT … ON CONFLICT).
                    let mut seen = std::collections::HashSet::with_capacity(commit.xrefs.len());
                    let mut rows: Vec<&crate::XrefUpdate> = commit
                        .xrefs
                        .iter()
                        .rev()
                        .filter(|x| seen.insert(x.source_id.as_str()))
                        .collect();
                    rows.reverse();
                    let per = chunk_rows::<$db>(8);
                    for chunk in rows.chunks(per) {
                        let mut qb = sqlx::QueryBuilder::<$db>::new(concat!(
                            "INSERT INTO ferry_xref (", xref_columns!(), ") "
                        ));
                        qb.push_values(chunk, |mut b, x| {
                            b.push_bind(flow)
                                .push_bind(x.source_id.as_str())
                                .push_bind(x.key.as_deref())
                                .push_bind(x.target_id.as_deref())
                                .push_bind(x.read_hash.as_deref())
                                .push_bind(x.written_hash.as_deref())
                                .push_bind(x.source_version.as_deref())
                                .push_bind(now);
                        });
                        qb.push(
                            " ON CONFLICT (flow, source_id) DO UPDATE SET key = excluded.key, \
                             target_id = excluded.target_id, read_hash = excluded.read_hash, \
                             written_hash = excluded.written_hash, \
                             source_version = excluded.source_version, \
                             updated_at = excluded.updated_at",
                        );
                        // Persistent: engine batches have a fixed size, so the same few shapes recur
                        // (the statement cache is an LRU, so odd tail sizes just age out).
                        qb.build().persistent(true).execute(&mut *tx).await?;
                    }
                }

                let per = chunk_rows::<$db>(14);
                for chunk in commit.ledger.chunks(per) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO ferry_ledger (flow, source_id, key, run_id, at, trigger, \
                         outcome, attempt, target_id, before_hash, after_hash, source_version, \
                         error_kind, error) ",
                    );
                    qb.push_values(chunk, |mut b, e| {
                        b.push_bind(flow)
                            .push_bind(e.source_id.as_str())
                            .push_bind(e.key.as_deref())
                            .push_bind(e.run_id)
                            .push_bind(e.at.timestamp_millis())
                            .push_bind(e.trigger.as_str())
                            .push_bind(e.outcome.as_str())
                            .push_bind(i64::from(e.attempt))
                            .push_bind(e.target_id.as_deref())
                            .push_bind(e.before_hash.as_deref())
                            .push_bind(e.after_hash.as_deref())
                            .push_bind(e.source_version.as_deref())
                            .push_bind(e.error_kind.as_deref())
                            .push_bind(e.error.as_deref());
                    });
                    qb.build().persistent(true).execute(&mut *tx).await?;
                }

                // Before inserting this batch's dead letters: those are not delivered.
                if !commit.delivered.is_empty() {
                    let sql = format!(
                        "UPDATE ferry_dead_letters SET state = 'resolved', updated_at = $3 \
                         WHERE flow = $1 AND state IN ('open', 'replayed') AND {}",
                        <$db as Dialect>::SOURCE_ID_IN_2
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(flow)
                        .bind(<$db as Dialect>::text_list(&commit.delivered))
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }

                let per = chunk_rows::<$db>(10);
                for chunk in commit.dead_letters.chunks(per) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO ferry_dead_letters (flow, source_id, key, payload, \
                         error_kind, error, attempts, state, created_at, updated_at) ",
                    );
                    qb.push_values(chunk, |mut b, d| {
                        b.push_bind(flow)
                            .push_bind(d.source_id.as_str())
                            .push_bind(d.key.as_deref())
                            .push_bind(json_text(&d.payload))
                            .push_bind(d.error_kind.as_str())
                            .push_bind(d.error.as_str())
                            .push_bind(i64::from(d.attempts))
                            .push_bind(DeadLetterState::Open.as_str())
                            .push_bind(now)
                            .push_bind(now);
                    });
                    qb.build().persistent(false).execute(&mut *tx).await?;
                }

                if !commit.acked.is_empty() {
                    let sql = format!(
                        "DELETE FROM ferry_queue WHERE {}",
                        <$db as Dialect>::ID_IN_1
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(<$db as Dialect>::id_list(&commit.acked))
                        .execute(&mut *tx)
                        .await?;
                }

                tx.commit().await?;
                Ok(())
            }

            async fn enqueue(&self, items: &[NewQueueItem]) -> Result<Vec<i64>> {
                if items.is_empty() {
                    return Ok(Vec::new());
                }
                let now = now_ms();
                let mut tx = self.begin_write().await?;
                let mut ids = Vec::with_capacity(items.len());
                let per = chunk_rows::<$db>(8);
                for chunk in items.chunks(per) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO ferry_queue (flow, source_id, trigger, payload, attempts, \
                         available_at, dead_letter_id, enqueued_at) ",
                    );
                    qb.push_values(chunk, |mut b, item| {
                        b.push_bind(item.flow.as_str())
                            .push_bind(item.source_id.as_str())
                            .push_bind(item.trigger.as_str())
                            .push_bind(item.payload.as_ref().map(json_text))
                            .push_bind(0_i64)
                            .push_bind(now)
                            .push_bind(item.dead_letter_id)
                            .push_bind(now);
                    });
                    qb.push(" RETURNING id");
                    let mut chunk_ids: Vec<i64> = qb
                        .build_query_scalar()
                        .persistent(chunk.len() == 1)
                        .fetch_all(&mut *tx)
                        .await?;
                    // Ids grow in VALUES order; RETURNING order itself is not guaranteed.
                    chunk_ids.sort_unstable();
                    ids.extend(chunk_ids);
                }
                tx.commit().await?;
                Ok(ids)
            }

            async fn lease(
                &self,
                flow: &str,
                max: usize,
                lease: std::time::Duration,
            ) -> Result<Vec<QueueItem>> {
                if max == 0 {
                    return Ok(Vec::new());
                }
                let now = now_ms();
                let until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
                // Candidates: available, not leased, and the oldest item of their source id
                // with no live lease on any other item of that source id (per-key order).
                let sql = format!(
                    concat!(
                        "UPDATE ferry_queue SET lease_until = $3, lease_owner = $4 WHERE id IN (",
                        "SELECT q.id FROM ferry_queue q WHERE q.flow = $1 AND q.available_at <= $2 ",
                        "AND (q.lease_until IS NULL OR q.lease_until <= $2) ",
                        "AND NOT EXISTS (SELECT 1 FROM ferry_queue o WHERE o.flow = q.flow ",
                        "AND o.source_id = q.source_id AND o.id <> q.id ",
                        "AND (o.id < q.id OR o.lease_until > $2)) ",
                        "ORDER BY q.available_at, q.id LIMIT $5 {}) RETURNING ",
                        queue_columns!()
                    ),
                    <$db as Dialect>::LEASE_LOCK
                );
                let mut tx = self.begin_write().await?;
                let rows: Vec<QueueRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(flow)
                    .bind(now)
                    .bind(until)
                    .bind(self.owner.as_str())
                    .bind(i64::try_from(max).unwrap_or(i64::MAX))
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                let mut items = rows.into_iter().map(QueueRow::into_item).collect::<Result<Vec<_>>>()?;
                items.sort_by_key(|i| (i.available_at, i.id));
                Ok(items)
            }

            async fn retry_later(
                &self,
                id: i64,
                at: chrono::DateTime<chrono::Utc>,
                error: &str,
            ) -> Result<()> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE ferry_queue SET attempts = attempts + 1, available_at = $2, \
                     last_error = $3, lease_until = NULL, lease_owner = NULL WHERE id = $1",
                )
                .bind(id)
                .bind(at.timestamp_millis())
                .bind(error)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(format!("queue item {id} does not exist")));
                }
                Ok(())
            }

            async fn release_leases(&self, flow: &str) -> Result<u64> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE ferry_queue SET lease_until = NULL, lease_owner = NULL \
                     WHERE flow = $1 AND lease_owner = $2 AND lease_until IS NOT NULL",
                )
                .bind(flow)
                .bind(self.owner.as_str())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected())
            }

            async fn queue_depth(&self, flow: Option<&str>) -> Result<u64> {
                let n: i64 = match flow {
                    Some(flow) => {
                        sqlx::query_scalar("SELECT COUNT(*) FROM ferry_queue WHERE flow = $1")
                            .bind(flow)
                            .fetch_one(&self.read)
                            .await?
                    }
                    None => {
                        sqlx::query_scalar("SELECT COUNT(*) FROM ferry_queue")
                            .fetch_one(&self.read)
                            .await?
                    }
                };
                to_u64(n, "queue depth")
            }

            async fn dead_letters(&self, filter: &crate::DeadLetterFilter) -> Result<Vec<DeadLetter>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(concat!(
                    "SELECT ", dead_letter_columns!(), " FROM ferry_dead_letters WHERE state IN ("
                ));
                let states: &[DeadLetterState] = if filter.states.is_empty() {
                    &[DeadLetterState::Open]
                } else {
                    &filter.states
                };
                let mut sep = qb.separated(", ");
                for state in states {
                    sep.push_bind(state.as_str());
                }
                sep.push_unseparated(")");
                if let Some(flow) = &filter.flow {
                    qb.push(" AND flow = ").push_bind(flow.as_str());
                }
                qb.push(" ORDER BY id DESC LIMIT ")
                    .push_bind(i64::from(filter.limit.unwrap_or(100)));
                let rows: Vec<DeadLetterRow> =
                    qb.build_query_as().persistent(false).fetch_all(&self.read).await?;
                rows.into_iter().map(DeadLetterRow::into_dead_letter).collect()
            }

            async fn dead_letter(&self, id: i64) -> Result<Option<DeadLetter>> {
                let row: Option<DeadLetterRow> = sqlx::query_as(concat!(
                    "SELECT ", dead_letter_columns!(), " FROM ferry_dead_letters WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(&self.read)
                .await?;
                row.map(DeadLetterRow::into_dead_letter).transpose()
            }

            async fn replay_dead_letter(
                &self,
                id: i64,
                trigger: &str,
                payload: Option<serde_json::Value>,
            ) -> Result<i64> {
                let now = now_ms();
                let mut tx = self.begin_write().await?;
                let row: Option<(String, String)> = sqlx::query_as(
                    "UPDATE ferry_dead_letters SET state = 'replayed', updated_at = $2 \
                     WHERE id = $1 AND state = 'open' RETURNING flow, source_id",
                )
                .bind(id)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((flow, source_id)) = row else {
                    return Err(Self::not_open(&mut tx, id, "replayed").await?);
                };
                let queue_id: i64 = sqlx::query_scalar(
                    "INSERT INTO ferry_queue (flow, source_id, trigger, payload, attempts, \
                     available_at, dead_letter_id, enqueued_at) \
                     VALUES ($1, $2, $3, $4, 0, $5, $6, $5) RETURNING id",
                )
                .bind(flow)
                .bind(source_id)
                .bind(trigger)
                .bind(payload.as_ref().map(json_text))
                .bind(now)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(queue_id)
            }

            async fn skip_dead_letter(&self, id: i64, trigger: &str) -> Result<()> {
                let now = now_ms();
                let mut tx = self.begin_write().await?;
                #[allow(clippy::type_complexity)]
                let row: Option<(String, String, Option<String>, i64, String, String)> =
                    sqlx::query_as(
                        "UPDATE ferry_dead_letters SET state = 'skipped', updated_at = $2 \
                         WHERE id = $1 AND state = 'open' \
                         RETURNING flow, source_id, key, attempts, error_kind, error",
                    )
                    .bind(id)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some((flow, source_id, key, attempts, error_kind, error)) = row else {
                    return Err(Self::not_open(&mut tx, id, "skipped").await?);
                };
                sqlx::query(
                    "INSERT INTO ferry_ledger (flow, source_id, key, run_id, at, trigger, outcome, \
                     attempt, error_kind, error) VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, $9)",
                )
                .bind(flow)
                .bind(source_id)
                .bind(key)
                .bind(now)
                .bind(trigger)
                .bind(Outcome::Skipped.as_str())
                .bind(attempts)
                .bind(error_kind)
                .bind(error)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn ledger(&self, flow: Option<&str>, key_or_id: &str) -> Result<Vec<LedgerEntry>> {
                let rows: Vec<LedgerRow> = match flow {
                    Some(flow) => sqlx::query_as(concat!(
                        "SELECT ", ledger_columns!(), " FROM ferry_ledger ",
                        "WHERE (key = $1 OR source_id = $1) AND flow = $2 ORDER BY id"
                    ))
                    .bind(key_or_id)
                    .bind(flow)
                    .fetch_all(&self.read)
                    .await?,
                    None => sqlx::query_as(concat!(
                        "SELECT ", ledger_columns!(), " FROM ferry_ledger ",
                        "WHERE key = $1 OR source_id = $1 ORDER BY id"
                    ))
                    .bind(key_or_id)
                    .fetch_all(&self.read)
                    .await?,
                };
                rows.into_iter().map(LedgerRow::into_entry).collect()
            }

            async fn start_run(&self, flow: &str, trigger: &str) -> Result<i64> {
                let mut tx = self.begin_write().await?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO ferry_runs (flow, trigger, started_at) VALUES ($1, $2, $3) \
                     RETURNING id",
                )
                .bind(flow)
                .bind(trigger)
                .bind(now_ms())
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(id)
            }

            async fn finish_run(
                &self,
                run_id: i64,
                stats: &crate::RunStats,
                error: Option<&str>,
            ) -> Result<()> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE ferry_runs SET finished_at = $2, read = $3, created = $4, \
                     updated = $5, unchanged = $6, failed = $7, error = $8 WHERE id = $1",
                )
                .bind(run_id)
                .bind(now_ms())
                .bind(to_i64(stats.read))
                .bind(to_i64(stats.created))
                .bind(to_i64(stats.updated))
                .bind(to_i64(stats.unchanged))
                .bind(to_i64(stats.failed))
                .bind(error)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(format!("run {run_id} does not exist")));
                }
                Ok(())
            }

            async fn flow_states(&self) -> Result<Vec<crate::FlowState>> {
                let mut states = std::collections::BTreeMap::new();
                let cursors: Vec<(String, Option<String>)> =
                    sqlx::query_as("SELECT flow, cursor FROM ferry_cursors")
                        .fetch_all(&self.read)
                        .await?;
                for (flow, cursor) in cursors {
                    flow_entry(&mut states, flow).cursor = cursor;
                }
                let counts: Vec<(String, i64)> =
                    sqlx::query_as("SELECT flow, COUNT(*) FROM ferry_xref GROUP BY flow")
                        .fetch_all(&self.read)
                        .await?;
                for (flow, n) in counts {
                    flow_entry(&mut states, flow).records = to_u64(n, "xref count")?;
                }
                let counts: Vec<(String, i64)> =
                    sqlx::query_as("SELECT flow, COUNT(*) FROM ferry_queue GROUP BY flow")
                        .fetch_all(&self.read)
                        .await?;
                for (flow, n) in counts {
                    flow_entry(&mut states, flow).queued = to_u64(n, "queue count")?;
                }
                let counts: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT flow, COUNT(CASE WHEN state = 'open' THEN 1 END) \
                     FROM ferry_dead_letters GROUP BY flow",
                )
                .fetch_all(&self.read)
                .await?;
                for (flow, n) in counts {
                    flow_entry(&mut states, flow).dead_letters = to_u64(n, "dead letter count")?;
                }
                let runs: Vec<RunRow> = sqlx::query_as(concat!(
                    "SELECT ", run_columns!(), " FROM ferry_runs ",
                    "WHERE id IN (SELECT MAX(id) FROM ferry_runs GROUP BY flow)"
                ))
                .fetch_all(&self.read)
                .await?;
                for row in runs {
                    let run = row.into_run()?;
                    let flow = run.flow.clone();
                    flow_entry(&mut states, flow).last_run = Some(run);
                }
                Ok(states.into_values().collect())
            }
        }
    };
}
