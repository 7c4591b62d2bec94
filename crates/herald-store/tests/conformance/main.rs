//! The conformance suite: every scenario runs against SQLite (a temp file) and PostgreSQL
//! (a fresh database, `HERALD_TEST_DATABASE_URL`, default
//! `postgres://root@127.0.0.1:5432/test`). Without PostgreSQL the postgres tests say
//! SKIPPED on stderr, except under `CI=true`, where they fail.

mod batches;
mod bodies;
mod claims;
mod completion;
mod dictionaries;
mod events;
mod fixtures;
mod gate;
mod harness;
mod health;
mod hooks;
mod maintenance;
mod monitors;
mod ordering;
mod pollers;
mod refs;
mod replay;
mod sources;
mod specific;
mod windows;
mod writer;

/// For each `module::scenario`, a `sqlite::scenario` and a `postgres::scenario` test.
macro_rules! conformance {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = crate::harness::SqliteDb::new().await;
                    crate::$module::$name(db.store.clone()).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = crate::harness::PgDb::new(stringify!($name)).await else {
                        return;
                    };
                    crate::$module::$name(db.store.clone()).await;
                }
            )*
        }
    };
}

conformance!(
    events::append_round_trips_every_field,
    events::large_payloads_round_trip,
    events::payloads_with_nul_round_trip,
    events::duplicate_dedup_key_reports_original,
    events::duplicate_within_one_batch,
    events::null_dedup_keys_never_conflict,
    events::events_found_by_dedup_key,
    events::delivery_idempotency_conflict_is_ignored,
    events::list_events_filters_and_pages,
    events::event_payloads_follow_the_list,
    events::activity_since_reads_times,
    claims::claim_respects_due_time_limit_and_order,
    claims::expired_lease_is_claimed_again,
    claims::stale_token_changes_nothing,
    claims::release_leases_makes_rows_claimable,
    claims::release_leases_frees_every_row_of_a_claim,
    claims::claims_skip_the_actions_asked_to,
    claims::claims_are_counted_and_an_unrecorded_one_leaves_the_outcome_unknown,
    claims::a_dead_process_leases_are_released_by_a_live_ones_heartbeat,
    claims::concurrent_claims_never_overlap,
    claims::claim_ids_leases_only_the_named_pending_ones,
    claims::claim_ids_and_claims_never_overlap,
    claims::a_delivery_born_leased_is_held_until_its_lease_lapses,
    completion::complete_succeeded_records_attempt,
    completion::complete_retry_and_dead_update_schedule,
    completion::complete_sets_progress_and_failure_kind,
    bodies::large_attempt_bodies_round_trip,
    bodies::requests_made_from_payloads_round_trip,
    bodies::a_request_against_another_payload_reads_as_a_note,
    refs::refs_are_upserted_with_completions,
    refs::refs_are_written_when_the_lease_was_lost,
    refs::refs_in_one_batch_keep_the_last_write,
    refs::ref_group_is_stored_and_replaced_by_upserts,
    refs::ref_deletes_apply_in_order,
    refs::list_refs_filters_by_kind_and_group_newest_first,
    refs::change_refs_writes_when_the_conditions_hold,
    refs::change_refs_writes_nothing_when_an_absent_key_exists,
    refs::change_refs_writes_nothing_when_a_present_key_is_missing,
    refs::change_refs_deletes_and_upserts_in_one_change,
    refs::concurrent_changes_needing_one_absent_key_have_one_winner,
    ordering::ordering_key_runs_one_at_a_time_in_creation_order,
    ordering::same_created_at_orders_by_id,
    ordering::live_lease_of_a_later_delivery_blocks_the_head,
    ordering::completion_frees_the_next_of_the_key,
    ordering::expired_lease_of_the_head_is_claimed_again,
    ordering::one_batch_leases_one_delivery_per_key,
    ordering::concurrent_claims_keep_each_key_in_order,
    replay::replay_by_ids_requeues_any_status,
    replay::replay_by_filter_never_touches_pending,
    replay::replay_clears_failure_kind_and_restarts_only_succeeded,
    maintenance::list_deliveries_filters_and_pages,
    maintenance::queue_depth_counts,
    maintenance::next_due_at_is_earliest_pending,
    maintenance::next_due_at_waits_for_leases,
    maintenance::prune_keeps_pending_and_referenced,
    maintenance::prune_refs_by_last_write,
    maintenance::prune_keeps_durable_refs,
    maintenance::migrate_again_is_harmless,
    maintenance::a_closed_store_refuses_work,
    health::health_reports_streaks_failures_and_counts,
    health::health_breaks_started_at_ties_by_delivery_then_number,
    hooks::hooks_are_created_once_and_read_back,
    hooks::hooks_are_listed_by_source_then_id,
    hooks::rotation_keeps_the_old_secret_as_previous,
    hooks::import_inserts_or_replaces_the_secret,
    hooks::delete_removes_only_that_hook,
    hooks::concurrent_creates_of_one_id_have_one_winner,
    monitors::monitor_states_are_upserted_and_listed_by_subject,
    monitors::delete_monitor_states_counts_and_keeps_other_monitors,
    monitors::put_many_monitor_states_at_once,
    batches::write_mixes_jobs_in_one_transaction,
    batches::write_appends_and_completions_alone,
    batches::write_empty_batch_does_nothing,
    batches::write_large_batches,
    writer::writer_batches_concurrent_appends,
    writer::writer_tells_the_observer_each_batch,
    writer::writer_isolates_a_failing_job,
    writer::writer_fails_fast_without_a_connection,
    writer::writer_finishes_queue_after_last_handle_drops,
    writer::writer_completes_before_it_claims,
    writer::writer_runs_a_job_mix_under_concurrency,
    windows::events_of_one_group_join_one_window_in_order,
    windows::another_group_or_rule_opens_its_own_window,
    windows::duplicate_event_joins_no_window,
    windows::after_a_flush_a_new_event_opens_a_new_window,
    windows::claim_takes_due_windows_oldest_first,
    windows::flush_writes_deliveries_with_the_window,
    windows::lost_lease_flushes_and_defers_nothing,
    windows::defer_releases_the_lease_and_postpones,
    windows::events_after_the_claim_move_to_a_new_window,
    windows::concurrent_flushes_have_one_winner,
    windows::concurrent_appends_share_one_window,
    windows::appends_racing_flushes_lose_no_event,
    windows::list_windows_filters_and_orders,
    windows::flush_now_forces_matching_windows,
    windows::next_window_due_at_skips_leased_windows,
    windows::prune_keeps_open_windows_and_their_events,
    pollers::one_process_holds_a_poller_lease,
    pollers::the_next_poll_waits_unless_forced,
    pollers::a_page_moves_the_cursor_with_its_events,
    pollers::a_page_of_an_unknown_poller_writes_nothing,
    pollers::polled_events_join_their_windows,
    pollers::concurrent_pages_from_one_cursor_have_one_winner,
    pollers::concurrent_claims_lease_one_process,
    pollers::finish_poll_records_successes_and_failures,
    pollers::a_dead_process_poller_lease_is_released_by_a_heartbeat,
    pollers::add_deliveries_skips_taken_keys_and_unknown_events,
    pollers::poller_states_are_listed_by_source,
    sources::source_counts_follow_appends_and_skip_duplicates,
    sources::source_counts_and_newest_stay_right_under_pruning,
    sources::concurrent_appends_count_every_event,
    sources::events_of_a_source_and_type_page_newest_first,
);
