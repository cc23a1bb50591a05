"""The DAG steps called directly, without Airflow's context: requests, periods, rules.

Each step takes explicit arguments, so these tests build them by hand; the DAG runs themselves
are in tests/integration.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from airflow.sdk.exceptions import AirflowFailException

from fraudcal_airflow.dates import as_of_for_run, parse_date_range, utc_day_range
from fraudcal_airflow.errors import BackfillInputError, CalibrationInputError, ReportInputError
from fraudcal_airflow.runtime import RunInfo
from fraudcal_airflow.steps import backfill, calibrate, coverage_report, drift_report

CALIBRATION_PARAMS = {
    "model_type": "fraud_detector",
    "model_versions": ["v2", "v1"],
    "source": "fraud_log",
    "csv_path": None,
    "window_days": 30,
    "min_samples": 30,
    "coverage_levels": [99, 90],
    "narrow_threshold": 0.2,
    "ttl_hours": 36,
    "publish": True,
    "repair": True,
    "repair_coverage_level": 90,
    "methods": ["venn_abers", "residual", "mondrian"],
    "default_method": "mondrian",
}


def test_calibration_request_sorts_levels_and_keeps_the_versions():
    request = calibrate.CalibrationRequest.from_params(CALIBRATION_PARAMS)
    assert request.coverage_levels == (90, 99)
    assert request.model_versions == ("v2", "v1")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"csv_path": "x.csv"}, "csv_path 'x.csv' is only read with source='csv'"),
        ({"window_days": 0}, "window_days=0 must be an integer in 1..365"),
    ],
)
def test_calibration_request_refuses_what_the_form_cannot(change, message):
    with pytest.raises(CalibrationInputError, match=message) as error:
        calibrate.CalibrationRequest.from_params({**CALIBRATION_PARAMS, **change})
    # an input error fails the task at once: Airflow never retries an AirflowFailException
    assert isinstance(error.value, AirflowFailException) and isinstance(error.value, ValueError)


def test_version_plan_and_snapshot_round_trip_through_json():
    import json

    plan = calibrate.VersionPlan("v1", "2025-01-21T00:00:00+00:00", "2025-02-20T00:00:00+00:00")
    snapshot = calibrate.Snapshot(plan, "/tmp/s.npz", 12, {"success": True})
    assert calibrate.Snapshot.from_dict(json.loads(json.dumps(snapshot.as_dict()))) == snapshot
    assert plan.window == (datetime(2025, 1, 21, tzinfo=UTC), datetime(2025, 2, 20, tzinfo=UTC))


def test_a_version_plan_with_a_label_maturity_carries_its_window_end():
    import json

    plan = calibrate.VersionPlan(
        "v1", "2025-01-14T00:00:00+00:00", "2025-02-20T00:00:00+00:00", "2025-02-13T00:00:00+00:00", 7
    )
    assert calibrate.VersionPlan.from_dict(json.loads(json.dumps(plan.as_dict()))) == plan
    assert plan.window == (datetime(2025, 1, 14, tzinfo=UTC), datetime(2025, 2, 13, tzinfo=UTC))
    assert plan.as_of_time == datetime(2025, 2, 20, tzinfo=UTC)
    # a plan written before maturity existed (an XCom of an older run) reads as maturity 0
    old = calibrate.VersionPlan.from_dict({"model_version": "v1", "window_start": "2025-01-21T00:00:00+00:00",
                                           "as_of": "2025-02-20T00:00:00+00:00"})
    assert (old.window[1], old.label_maturity_days) == (datetime(2025, 2, 20, tzinfo=UTC), 0)


@pytest.mark.parametrize("value", ["auto", 0, "0", 7, "365"])
def test_the_calibration_request_keeps_a_good_maturity_as_given(value):
    request = calibrate.CalibrationRequest.from_params({**CALIBRATION_PARAMS, "label_maturity_days": value})
    assert request.label_maturity_days == value
    assert calibrate.CalibrationRequest.from_params(CALIBRATION_PARAMS).label_maturity_days == 0


@pytest.mark.parametrize("value", ["seven", "400", 400, -1, True, 7.5])
def test_the_calibration_request_refuses_a_bad_maturity_naming_it(value):
    with pytest.raises(CalibrationInputError, match=f"label_maturity_days must be 'auto' or an integer in 0..365; got {value!r}"):
        calibrate.CalibrationRequest.from_params({**CALIBRATION_PARAMS, "label_maturity_days": value})


def test_matured_day_errors_judge_each_row_with_the_set_in_force_when_it_was_made():
    import numpy as np

    at = np.array(
        [
            "2025-03-01T10:00",  # before any set: left out
            "2025-03-02T01:00", "2025-03-02T05:00", "2025-03-02T23:00",  # set A (as_of 03-02 00:00)
            "2025-03-03T02:00", "2025-03-03T13:00",  # 02:00 under A, 13:00 under B (as_of 03-03 12:00)
            "2025-03-04T09:00",  # after the newest matured day: left out
        ],
        dtype="datetime64[us]",
    )
    p = np.array([0.5, 0.3, 0.9, 0.05, 0.25, 0.25, 0.9])
    y = np.array([1, 0, 1, 1, 0, 0, 0], dtype=float)
    as_ofs = np.array(["2025-03-02T00:00", "2025-03-03T12:00"], dtype="datetime64[us]")
    quantiles = (np.array([0.2, 0.3]), np.array([0.5, 0.5]))  # (q_0, q_1) of A and of B
    days = calibrate.matured_day_errors(
        at, p, y, as_ofs, quantiles, after=None, through=np.datetime64("2025-03-03", "D")
    )
    # 03-02: legit 0.3 > 0.2 missed; frauds 0.9 (1 - p = 0.1 <= 0.5) covered, 0.05 (0.95 > 0.5) missed
    # 03-03: legit 0.25 > 0.2 missed under A; legit 0.25 <= 0.3 covered under B
    assert days == [
        {"day": "2025-03-02", "misses": {"0": 1, "1": 1}, "counts": {"0": 1, "1": 2}},
        {"day": "2025-03-03", "misses": {"0": 1, "1": 0}, "counts": {"0": 2, "1": 0}},
    ]
    after = calibrate.matured_day_errors(
        at, p, y, as_ofs, quantiles, after=np.datetime64("2025-03-02", "D"), through=np.datetime64("2025-03-03", "D")
    )
    assert [day["day"] for day in after] == ["2025-03-03"]
    # a set without the level (NaN) is no set in force; no set at all: nothing to judge
    lacking = (np.array([np.nan, 0.3]), np.array([np.nan, 0.5]))
    assert [d["counts"] for d in calibrate.matured_day_errors(
        at, p, y, as_ofs, lacking, after=None, through=np.datetime64("2025-03-03", "D")
    )] == [{"0": 1, "1": 0}]
    none = (np.array([]), np.array([]))
    empty = np.array([], dtype="datetime64[us]")
    assert calibrate.matured_day_errors(at, p, y, empty, none, after=None, through=np.datetime64("2025-03-05", "D")) == []


def test_recorded_set_announces_only_which_sets():
    recorded = calibrate.RecordedSet("m", "v1", "2025-02-20T00:00:00Z", {"residual": 7, "mondrian": 8}, changed=False)
    assert recorded.asset_extra == {
        "model_type": "m",
        "model_version": "v1",
        "as_of": "2025-02-20T00:00:00Z",
        "calibration_set_id": 7,  # the residual set's: the payload's calibration_set_id
        "calibration_set_ids": {"residual": 7, "mondrian": 8},
        "changed": False,
        "triage_status": None,
    }


@pytest.mark.parametrize(
    ("methods", "default_method", "message"),
    [
        ([], "residual", "methods is empty"),
        (["mondrian", "isotonic"], "mondrian", "isotonic"),
        (["residual"], "mondrian", "mondrian"),
    ],
    ids=["empty", "unknown", "default-not-selected"],
)
def test_bad_method_params_are_refused_naming_them(methods, default_method, message):
    params = {**CALIBRATION_PARAMS, "methods": methods, "default_method": default_method}
    with pytest.raises(CalibrationInputError, match=message):
        calibrate.CalibrationRequest.from_params(params)


def test_the_residual_set_is_always_computed_first():
    params = {**CALIBRATION_PARAMS, "methods": ["venn_abers", "mondrian"], "default_method": "venn_abers"}
    assert calibrate.CalibrationRequest.from_params(params).methods == ("residual", "mondrian", "venn_abers")


BACKFILL_PARAMS = {
    "model_type": "fraud_detector",
    "source": "fraud_log",
    "date_from": "2025-02-01",
    "date_to": "2025-02-03",
    "coverage_level": 95,
    "chunk_size": 5000,
    "overwrite": False,
}


def test_backfill_request_is_the_half_open_utc_range_of_the_inclusive_dates():
    request = backfill.request_from_params(BACKFILL_PARAMS, ["v1"])
    assert (request.time_from, request.time_to) == (
        datetime(2025, 2, 1, tzinfo=UTC),
        datetime(2025, 2, 4, tzinfo=UTC),
    )
    assert (request.coverage_level, request.chunk_size, request.model_versions) == (95, 5000, ("v1",))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"date_from": "2025-02-30"}, "date_from='2025-02-30' is not an ISO date"),
        ({"date_to": "31/01/2025"}, "date_to='31/01/2025' is not an ISO date"),
        ({"date_from": "2025-02-10"}, "date_from=2025-02-10 is after date_to=2025-02-03"),
        ({"date_to": None}, "date_to is required"),
    ],
)
def test_backfill_request_names_the_bad_date(change, message):
    with pytest.raises(BackfillInputError, match=message):
        backfill.request_from_params({**BACKFILL_PARAMS, **change}, ["v1"])


def test_verification_extra_gives_the_inclusive_last_day():
    request = backfill.request_from_params(BACKFILL_PARAMS, ["v1"]).as_dict()
    result = backfill.Verification(request, False, 10, 10, {}, {"sampled": 0})
    assert result.asset_extra["date_from"] == "2025-02-01"
    assert result.asset_extra["date_to"] == "2025-02-03"


def test_one_date_range_rule_for_every_dag():
    assert parse_date_range("2025-03-01", "2025-03-01") == utc_day_range(date(2025, 3, 1), date(2025, 3, 1))
    assert parse_date_range("2025-03-01", "2025-03-01")[1] == datetime(2025, 3, 2, tzinfo=UTC)


def test_report_period_defaults_to_the_last_seven_labeled_days():
    assert coverage_report.report_period(None, None, date(2025, 2, 28), date(2025, 6, 1)) == (
        date(2025, 2, 22),
        date(2025, 2, 28),
    )
    # no label at all: the seven days up to today
    assert coverage_report.report_period(None, None, None, date(2025, 6, 1)) == (date(2025, 5, 26), date(2025, 6, 1))
    assert coverage_report.report_period("2025-01-01", "2025-01-03", None, date(2025, 6, 1)) == (
        date(2025, 1, 1),
        date(2025, 1, 3),
    )


@pytest.mark.parametrize(
    ("date_from", "date_to", "message"),
    [
        ("2025-01-01", None, "give both date_from and date_to"),
        ("2025-01-05", "2025-01-01", "date_from=2025-01-05 is after date_to=2025-01-01"),
        ("2025-13-01", "2025-12-01", "date_from='2025-13-01' is not an ISO date"),
    ],
)
def test_report_period_refuses_bad_dates(date_from, date_to, message):
    with pytest.raises(ReportInputError, match=message):
        coverage_report.report_period(date_from, date_to, None, date(2025, 6, 1))


DRIFT_PARAMS = {
    "model_type": "fraud_detector",
    "model_versions": [],
    "source": "fraud_log",
    "reference_days": 28,
    "pr_auc_drop": 0.1,
    "psi_warn": 0.1,
    "psi_alert": 0.25,
    "band_sigmas": 3,
    "coverage_level": 95,
    "recipients": ["a@example.com"],
    "send_digest": False,
}


def test_drift_request_carries_the_thresholds_and_refuses_warn_above_alert():
    request = drift_report.DriftRequest.from_params(DRIFT_PARAMS)
    assert request.thresholds.coverage_level == 95 and request.thresholds.psi_alert == 0.25
    with pytest.raises(ReportInputError, match="psi_warn=0.3 must not exceed psi_alert=0.25"):
        drift_report.DriftRequest.from_params({**DRIFT_PARAMS, "psi_warn": 0.3})


def test_retraining_request_names_only_alerting_versions():
    results = [
        {"model_version": "v1", "day": "2025-02-10", "alerts": []},
        {
            "model_version": "v2",
            "day": "2025-02-10",
            "alerts": [
                {"rule": "PSI", "metric": "psi", "value": 0.4, "threshold": 0.25},
                {"rule": "band", "metric": "fraud_rate", "value": 0.09, "threshold": 3},
            ],
        },
    ]
    assert drift_report.retraining_request("m", results[:1]) is None
    assert drift_report.retraining_request("m", results) == {
        "model_type": "m",
        "day": "2025-02-10",
        "versions": {"v2": {"rules": ["PSI", "band"], "values": {"psi": 0.4, "fraud_rate": 0.09}}},
    }


def test_run_info_knows_a_backfill_run_and_its_as_of():
    run = RunInfo("d", "r", "backfill", datetime(2025, 2, 20, tzinfo=UTC), None, {})
    assert run.is_backfill and not RunInfo("d", "r", "scheduled", run.as_of, None, {}).is_backfill
    # a run without a data interval calibrates as of the last midnight before it was queued
    assert as_of_for_run(None, datetime(2025, 2, 20, 17, 5, tzinfo=UTC)) == datetime(2025, 2, 20, tzinfo=UTC)


def test_an_asset_triggered_report_mails_only_news():
    unchanged = {"model_version": "v1", "as_of": "2025-02-20T00:00:00Z", "changed": False}
    new = {"model_version": "v2", "as_of": "2025-02-20T00:00:00Z", "changed": True}
    assert coverage_report.news("asset_triggered", [unchanged, unchanged]) is None
    assert coverage_report.news("asset_triggered", [unchanged, new]) == "new calibration set(s): v2 as_of 2025-02-20T00:00:00Z"
    assert coverage_report.news("manual", []) == "a manual run"  # asked for: always mailed
    run = RunInfo("report_coverage", "r", "asset_triggered", datetime(2025, 2, 20, tzinfo=UTC), None, {}, (unchanged,))
    from airflow.sdk.exceptions import AirflowSkipException

    with pytest.raises(AirflowSkipException, match="none with a new or changed set"):
        coverage_report.skip_without_news(run)
