use super::*;
use ferry_store::RunStats;

fn config(yaml: &str) -> AlertsConfig {
    serde_saphyr::from_str(yaml).expect("alerts config")
}

fn t(minutes: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap() + chrono::Duration::minutes(minutes)
}

fn run(id: i64, read: u64, failed: u64, finished: Option<i64>, error: Option<&str>) -> Run {
    Run {
        id,
        flow: "orders".into(),
        trigger: "poll".into(),
        started_at: t(0),
        finished_at: finished.map(t),
        stats: RunStats {
            read,
            failed,
            ..Default::default()
        },
        error: error.map(str::to_owned),
        idle_runs: 0,
    }
}

fn health(last_run: Option<Run>, dead_letters: u64) -> FlowHealth {
    FlowHealth {
        flow: "orders".into(),
        last_run,
        dead_letters,
        oldest_queued: None,
        period: None,
        last_reconciliation: None,
        recent_runs: Vec::new(),
    }
}

fn conditions(alerts: &[Alert]) -> Vec<(Condition, AlertState)> {
    alerts.iter().map(|a| (a.condition, a.state)).collect()
}

#[test]
fn dead_letters_fire_once_remind_after_repeat_and_recover() {
    let mut w = Watch::new(config("repeat: 1h"), t(0));
    assert!(w.check(t(1), &[health(None, 0)]).is_empty(), "all is well");

    let fired = w.check(t(2), &[health(None, 3)]);
    assert_eq!(
        conditions(&fired),
        [(Condition::DeadLetters, AlertState::Firing)]
    );
    assert!(
        fired[0]
            .message
            .contains("flow `orders`: 3 open dead letter(s)")
    );

    // No flooding: checks inside the repeat window say nothing, whatever the count does.
    for minute in 3..60 {
        assert!(
            w.check(t(minute), &[health(None, 4)]).is_empty(),
            "minute {minute}"
        );
    }
    let reminder = w.check(t(62), &[health(None, 4)]);
    assert_eq!(
        conditions(&reminder),
        [(Condition::DeadLetters, AlertState::Firing)]
    );
    assert!(
        reminder[0].message.contains("still:"),
        "{}",
        reminder[0].message
    );
    assert_eq!(reminder[0].since, t(2), "a reminder keeps when it began");

    let recovered = w.check(t(63), &[health(None, 0)]);
    assert_eq!(
        conditions(&recovered),
        [(Condition::DeadLetters, AlertState::Resolved)]
    );
    assert!(
        w.check(t(64), &[health(None, 0)]).is_empty(),
        "recovered once"
    );
}

#[test]
fn failures_follow_the_last_finished_run_and_its_error_rate() {
    let mut w = Watch::new(config("error_rate: 0.1"), t(0));
    // 1 of 20 = 5 %: under 10 %.
    assert!(
        w.check(t(1), &[health(Some(run(1, 20, 1, Some(1), None)), 0)])
            .is_empty()
    );
    // 5 of 20 = 25 %.
    let fired = w.check(t(2), &[health(Some(run(2, 20, 5, Some(2), None)), 0)]);
    assert_eq!(
        conditions(&fired),
        [(Condition::Failures, AlertState::Firing)]
    );
    assert!(
        fired[0].message.contains("5 of 20 records failed"),
        "{}",
        fired[0].message
    );
    // A run in progress neither resolves nor re-fires.
    assert!(
        w.check(t(3), &[health(Some(run(3, 0, 0, None, None)), 0)])
            .is_empty()
    );
    // A run that stopped with an error is a failure whatever its counts: still firing.
    assert!(
        w.check(
            t(4),
            &[health(Some(run(3, 0, 0, Some(4), Some("erp down"))), 0)]
        )
        .is_empty()
    );
    let recovered = w.check(t(5), &[health(Some(run(4, 20, 0, Some(5), None)), 0)]);
    assert_eq!(
        conditions(&recovered),
        [(Condition::Failures, AlertState::Resolved)]
    );

    let mut w = Watch::new(config("{}"), t(0));
    let fired = w.check(
        t(1),
        &[health(Some(run(9, 0, 0, Some(1), Some("erp down"))), 0)],
    );
    assert!(
        fired[0]
            .message
            .contains("the last run (#9) stopped: erp down")
    );
}

#[test]
fn a_scheduled_flow_that_stops_succeeding_goes_silent() {
    let mut w = Watch::new(config("{}"), t(0));
    let polled = |last_run: Option<Run>| FlowHealth {
        period: Some(Duration::from_secs(60)),
        ..health(last_run, 0)
    };
    // Polled every minute: silent after max(3 × 1 min, 5 min) = 5 min without success.
    assert!(w.check(t(4), &[polled(None)]).is_empty());
    let fired = w.check(t(6), &[polled(None)]);
    assert_eq!(
        conditions(&fired),
        [(Condition::Silent, AlertState::Firing)]
    );
    assert!(
        fired[0].message.contains("none since Ferry started"),
        "{}",
        fired[0].message
    );

    let ok = run(1, 10, 0, Some(7), None);
    assert_eq!(
        conditions(&w.check(t(7), &[polled(Some(ok.clone()))])),
        [(Condition::Silent, AlertState::Resolved)]
    );
    // The same successful run seen again and again does not keep the flow alive: runs that
    // fail (or none at all) after it make it silent 5 minutes later.
    let failing = run(2, 0, 0, Some(9), Some("timeout"));
    let states = conditions(&w.check(t(13), &[polled(Some(failing))]));
    assert!(
        states.contains(&(Condition::Silent, AlertState::Firing)),
        "{states:?}"
    );

    // Manual flows are never due.
    let mut w = Watch::new(config("{}"), t(0));
    assert!(w.check(t(600), &[health(None, 0)]).is_empty());
}

#[test]
fn lag_and_per_flow_thresholds() {
    let mut w = Watch::new(
        config("lag: 10m\nflows: { orders: { lag: 1h, dead_letters: 5 } }"),
        t(0),
    );
    let queued = |oldest: i64, dead_letters: u64| FlowHealth {
        oldest_queued: Some(t(oldest)),
        ..health(None, dead_letters)
    };
    // 30 minutes is past the section's 10m but not the flow's own 1h; 4 dead letters < 5.
    assert!(w.check(t(30), &[queued(0, 4)]).is_empty());
    let fired = w.check(t(61), &[queued(0, 5)]);
    assert_eq!(
        conditions(&fired),
        [
            (Condition::DeadLetters, AlertState::Firing),
            (Condition::Lag, AlertState::Firing)
        ]
    );
    assert!(
        fired[1].message.contains("waited 1h 1m"),
        "{}",
        fired[1].message
    );
}

fn reconciliation(id: i64, finished: Option<i64>, clean: Option<bool>) -> Reconciliation {
    Reconciliation {
        id,
        flow: "orders".into(),
        trigger: "schedule".into(),
        started_at: t(0),
        finished_at: finished.map(t),
        counts: clean.map(|clean| ferry_store::ReconcileCounts {
            source: 10,
            target: 10,
            matched: 10,
            equal: if clean { 10 } else { 8 },
            differing: if clean { 0 } else { 2 },
            missing_in_source: if clean { 0 } else { 1 },
            ..Default::default()
        }),
        clean,
        report: None,
        error: None,
    }
}

#[test]
fn drift_fires_on_a_reconciliation_that_found_it_and_recovers_on_a_clean_one() {
    let mut w = Watch::new(config("repeat: 1h"), t(0));
    let with = |r: Option<Reconciliation>| FlowHealth {
        last_reconciliation: r,
        ..health(None, 0)
    };
    assert!(w.check(t(1), &[with(None)]).is_empty(), "never reconciled");
    assert!(
        w.check(t(2), &[with(Some(reconciliation(1, Some(1), Some(true))))])
            .is_empty(),
        "clean"
    );
    let fired = w.check(t(3), &[with(Some(reconciliation(2, Some(2), Some(false))))]);
    assert_eq!(conditions(&fired), [(Condition::Drift, AlertState::Firing)]);
    assert!(
        fired[0].message.contains(
            "flow `orders`: reconciliation #2 (schedule, 2027-01-15 08:00:00 UTC) found drift: \
             2 differing, 0 missing in the target, 1 missing in the source"
        ),
        "{}",
        fired[0].message
    );
    // Running or failed ones say nothing: no recovery, no new alert; nor does drift found
    // again within the repeat window.
    let running = reconciliation(3, None, None);
    assert!(w.check(t(4), &[with(Some(running))]).is_empty());
    let failed = Reconciliation {
        error: Some("erp down".into()),
        ..reconciliation(3, Some(5), None)
    };
    assert!(w.check(t(5), &[with(Some(failed))]).is_empty());
    assert!(
        w.check(t(6), &[with(Some(reconciliation(4, Some(6), Some(false))))])
            .is_empty()
    );
    let recovered = w.check(t(7), &[with(Some(reconciliation(5, Some(7), Some(true))))]);
    assert_eq!(
        conditions(&recovered),
        [(Condition::Drift, AlertState::Resolved)]
    );
    assert_eq!(recovered[0].since, t(3));
}

#[test]
fn known_failures_alone_are_not_drift_and_drift_names_them_apart() {
    let mut w = Watch::new(config("repeat: 1h"), t(0));
    let with = |r: Reconciliation| FlowHealth {
        last_reconciliation: Some(r),
        ..health(None, 0)
    };
    let known_only = |id, clean, missing| {
        let mut r = reconciliation(id, Some(id), Some(true));
        r.clean = Some(clean);
        r.counts = r.counts.map(|c| ferry_store::ReconcileCounts {
            dead_lettered: 3,
            missing_in_target: missing,
            ..c
        });
        r
    };
    // As `finish` stores it: three records missing in the target with open dead letters
    // leave the reconciliation clean, and the drift alert silent.
    assert!(w.check(t(1), &[with(known_only(1, true, 0))]).is_empty());
    let fired = w.check(t(2), &[with(known_only(2, false, 1))]);
    assert_eq!(conditions(&fired), [(Condition::Drift, AlertState::Firing)]);
    assert!(
        fired[0].message.contains(
            "1 missing in the target, 0 missing in the source, 0 duplicate key(s), 0 unmapped \
             (3 known failure(s) waiting in the dead-letter ledger apart)"
        ),
        "{}",
        fired[0].message
    );
}

/// A run of `trigger` started at minute `at` that wrote `wrote` records.
fn run_at(id: i64, trigger: &str, at: i64, wrote: u64) -> Run {
    Run {
        id,
        flow: "customers".into(),
        trigger: trigger.into(),
        started_at: t(at),
        finished_at: Some(t(at)),
        stats: RunStats {
            read: wrote,
            updated: wrote,
            ..Default::default()
        },
        error: None,
        idle_runs: 0,
    }
}

#[test]
fn polls_that_keep_finding_what_no_webhook_announced_fire_missed_notices() {
    let flow = |runs: Vec<Run>| FlowHealth {
        flow: "customers".into(),
        last_run: runs.first().cloned(),
        dead_letters: 0,
        oldest_queued: None,
        period: None,
        last_reconciliation: None,
        recent_runs: runs,
    };
    let missed = |runs: Vec<Run>| {
        let mut w = Watch::new(config("repeat: 1h"), t(0));
        conditions(&w.check(t(100), &[flow(runs)]))
            .contains(&(Condition::MissedNotices, AlertState::Firing))
    };
    // Newest first: three polls wrote changes after the last webhook-driven run.
    let stopped = vec![
        run_at(6, "poll", 40, 2),
        run_at(5, "poll", 30, 1),
        run_at(4, "poll", 20, 3),
        run_at(3, "webhook", 10, 1),
    ];
    assert!(missed(stopped.clone()));
    let mut w = Watch::new(config("repeat: 1h"), t(0));
    let fired = w.check(t(100), &[flow(stopped.clone())]);
    let alert = fired
        .iter()
        .find(|a| a.condition == Condition::MissedNotices)
        .unwrap();
    assert!(
        alert.message.contains("6 change(s)") && alert.message.contains("数据推送"),
        "{}",
        alert.message
    );

    // A notice among them: pushes still arrive (a batch import pushes nothing, say).
    let mut pushing = stopped.clone();
    pushing.insert(1, run_at(7, "webhook", 35, 1));
    assert!(!missed(pushing));
    // An idle poll among them: polling found nothing the pushes had missed then.
    let mut idle = stopped.clone();
    idle[1].stats = RunStats::default();
    assert!(!missed(idle));
    // Never fed by notices: polling is how the flow works.
    assert!(!missed(stopped[..3].to_vec()));
    // The threshold is configurable.
    let mut w = Watch::new(config("missed_notices: 4"), t(0));
    assert!(w.check(t(100), &[flow(stopped)]).is_empty());
}
