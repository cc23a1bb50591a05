"""The coverage report's presentation: one version's failure never costs the others their report."""

from __future__ import annotations

import csv
import io

import numpy as np

from fraudcal.defaults import SUPPORTED_LEVELS
from fraudcal_airflow.reporting import coverage as report


def _rows(n: int, seed: int, labels=None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    rows = {
        "id": np.arange(n),
        "predicted_at": np.datetime64("2025-02-01T00:00:00", "us") + np.arange(n) * np.timedelta64(60, "s"),
        "probability": p,
        "label": (rng.random(n) < p) if labels is None else np.asarray(labels),
        "high_risk": p > 0.8,
    }
    rows.update({f"q{level}": np.full(n, 0.3) for level in SUPPORTED_LEVELS})
    return rows


def test_a_version_that_cannot_be_measured_is_reported_and_the_others_go_out():
    bad = _rows(4, 1, labels=np.array([0.0, 2.0, 1.0, 0.0]))  # a label of 2 breaks the core's contract
    figures = report.build_figures(
        {"good": _rows(500, 0), "bad": bad}, ages={"good": 5.0, "bad": 5.0}, level=90, narrow_threshold=0.2,
        stale_after_hours=36, default_method="residual",
    )
    by_name = {version["model_version"]: version for version in figures["versions"]}
    assert by_name["good"]["n"] == 500 and "coverage" in by_name["good"]
    assert by_name["bad"]["status"] == "red" and "label" in by_name["bad"]["error"]
    assert figures["status"] == "red"
    assert any(finding.startswith("bad: could not be measured") for finding in figures["findings"])
    charts = report.render_charts(figures)
    assert set(charts) == set(report.chart_names("good").values())
    html = report.render_html(
        figures,
        {
            "subject": "s",
            "model_type": "m",
            "date_from": "2025-02-01",
            "date_to": "2025-02-01",
            "dag_id": "d",
            "run_id": "r",
            "run_url": "http://x",
            "chart_files": sorted(charts),
        },
    )
    assert "Could not be measured" in html
    for name in report.chart_names("bad").values():
        assert f"cid:{name}" not in html
    for name in charts:
        assert f"cid:{name}" in html


def test_a_version_with_labels_but_no_set_yet_renders():
    # Found by probing: a newly deployed version with labels and no calibration set failed the
    # whole report with UndefinedError 'newest_set_age_hours'.
    rows = _rows(50, 2)
    rows.update({f"q{level}": np.full(50, np.nan) for level in SUPPORTED_LEVELS})
    figures = report.build_figures(
        {"new": rows, "old": _rows(300, 3)}, ages={"old": 2.0}, level=90, narrow_threshold=0.2, stale_after_hours=36,
        default_method="residual",
    )
    new = next(version for version in figures["versions"] if version["model_version"] == "new")
    assert new["n"] == 0 and new["newest_set_age_hours"] is None and new["set_stale"] and new["status"] == "red"
    assert any("new: stale calibration (no calibration set" in finding for finding in figures["findings"])
    context = {
        "subject": "s", "model_type": "m", "date_from": "d", "date_to": "d", "dag_id": "d", "run_id": "r",
        "run_url": "u",
    }
    html = report.render_html(figures, context)
    assert "newest set missing" in html


# --------------------------------------------------------------------------- what a reader sees

CONTEXT = {
    "subject": "s", "model_type": "fraud_detector", "date_from": "2025-02-01", "date_to": "2025-02-07",
    "dag_id": "report_coverage", "run_id": "r", "run_url": "http://localhost:8080/r",
}


def _labeled(p, y, high, q=0.1) -> dict[str, np.ndarray]:
    """Labeled predictions with a fixed quantile q at every level, one a minute from 2025-02-01."""
    n = len(p)
    rows = {
        "id": np.arange(n),
        "predicted_at": np.datetime64("2025-02-01T00:00:00", "us") + np.arange(n) * np.timedelta64(60, "s"),
        "probability": np.asarray(p, dtype=float),
        "label": np.asarray(y, dtype=bool),
        "high_risk": np.asarray(high, dtype=bool),
    }
    rows.update({f"q{level}": np.full(n, q) for level in SUPPORTED_LEVELS})
    return rows


def _rare_fraud() -> dict[str, np.ndarray]:
    # 950 legitimate and 50 frauds, all at p = 0.05, q = 0.1: |p - 0| <= q covers every legitimate
    # case, |p - 1| > q no fraud. Overall 950/1000 = 95 %, frauds 0/50 = 0 %.
    return _labeled([0.05] * 1000, [0] * 950 + [1] * 50, [False] * 1000)


def _figures(rows_by_version, **changes):
    arguments = {"ages": dict.fromkeys(rows_by_version, 1.0), "level": 90, "narrow_threshold": 0.2,
                 "stale_after_hours": 36, "default_method": "residual"}
    return report.build_figures(rows_by_version, **{**arguments, **changes})


def _text(html: str) -> str:
    """What a reader reads: the HTML without tags, entities decoded, spaces collapsed."""
    import html as html_module
    import re

    return re.sub(r"\s+", " ", html_module.unescape(re.sub(r"<[^>]+>", " ", html))).replace("\xa0", " ")


def test_the_subject_and_banner_lead_with_what_is_wrong():
    figures = _figures({"v1": _rare_fraud(), "v2": _rare_fraud()})
    subject = report.subject_line(figures, "fraud_detector", ["v1", "v2"], "2025-02-01", "2025-02-07")
    # The problem first (frauds 0/100 pooled), the good-looking overall figure (1900/2000) after it.
    assert subject == (
        "[RED] fraud_detector v1,v2 2025-02-01..2025-02-07: the 90 % intervals contained 0.0 % of "
        "confirmed frauds (target 90 %); overall 95.0 %"
    )
    banner = _text(report.render_html(figures, CONTEXT)).split("Are the intervals trustworthy today?")[0]
    assert "RED: the 90 % intervals contained 0.0 % of confirmed frauds" in banner


def test_a_problem_of_one_version_names_it_and_a_stale_set_leads_when_it_is_the_problem():
    healthy = _labeled([0.05] * 950 + [0.95] * 50, [0] * 950 + [1] * 50, [False] * 1000)  # every case covered
    figures = _figures({"v1": _rare_fraud(), "v2": healthy}, ages={"v1": 1.0, "v2": 50.0})
    line = report.headline(figures)
    assert line.startswith("v1: the 90 % intervals contained 0.0 % of confirmed frauds (target 90 %); ")
    assert "v2's newest calibration set is 50 h old" in line and "v2: the 90 %" not in line
    assert line.endswith("; overall 97.5 %")  # (950 + 1000) / 2000


def test_stale_sets_of_several_versions_are_one_problem():
    figures = _figures({"v1": _rare_fraud(), "v2": _rare_fraud()}, ages={"v1": 50.0})
    assert report.problems(figures)[1] == "stale calibration sets: v1 (50 h old), v2 (no set)"


def test_good_news_comes_first_only_when_all_is_well():
    healthy = _labeled([0.05] * 950 + [0.95] * 50, [0] * 950 + [1] * 50, [False] * 1000)
    figures = _figures({"v1": healthy})
    assert figures["status"] == "green"
    assert report.headline(figures) == (
        "the 90 % intervals contained 100.0 % of all labeled predictions and 100.0 % of confirmed frauds (target 90 %)"
    )


def _automation(high, tickets, legitimate_tickets, legitimate_reviews):
    reviews = high - tickets
    return {
        "high_risk": high, "auto_tickets": tickets, "human_reviews": reviews,
        "automation_rate": tickets / high if high else float("nan"),
        "legitimate_auto_tickets": legitimate_tickets,
        "auto_ticket_legitimate_share": legitimate_tickets / tickets if tickets else float("nan"),
        "legitimate_reviews": legitimate_reviews,
        "review_legitimate_share": legitimate_reviews / reviews if reviews else float("nan"),
    }


def test_auto_ticket_sentences_read_right_for_zero_one_and_many():
    import re

    cases = {
        "no review": _automation(3, 3, 1, 0),
        "one review": _automation(4, 3, 1, 1),
        "many reviews": _automation(7, 3, 1, 2),
        "one ticket": _automation(5, 1, 1, 0),
        "no ticket": _automation(2, 0, 0, 1),
        "one high, no ticket": _automation(1, 0, 0, 0),
        "nothing high": _automation(0, 0, 0, 0),
    }
    text = {name: " ".join(report.automation_sentences(a, 0.2)) for name, a in cases.items()}
    for name, sentence in text.items():
        # The old sentence: "against – among the 0 sent to human review".
        assert "the 0 " not in sentence and "\u2013" not in sentence and "nan" not in sentence, (name, sentence)
        assert not re.search(r"\b1 (auto-tickets|predictions|were)\b", sentence), (name, sentence)
        assert not re.search(r"\b(0|[2-9]\d*) (auto-ticket|prediction)\b(?!s)", sentence), (name, sentence)
    assert "None went to human review." in text["no review"]
    assert "The one prediction sent to human review was a legitimate case" in text["one review"]
    assert "2 of the 4 predictions sent to human review were legitimate cases" in text["many reviews"]
    assert "1 of the 3 auto-tickets was a legitimate case" in text["no review"]
    assert "share of auto-tickets that were legitimate is 33.3 %" in text["no review"]
    assert "became an auto-ticket" in text["one ticket"] and "The one auto-ticket was a legitimate case" in text["one ticket"]
    assert "None of the 2 HIGH/CRITICAL predictions had an interval narrower than 0.2" in text["no ticket"]
    assert "The only HIGH/CRITICAL prediction did not have an interval narrower than 0.2" in text["one high, no ticket"]
    assert "No prediction in this period was HIGH/CRITICAL" in text["nothing high"]


def test_one_name_for_legitimate_auto_tickets_in_the_html_and_the_csv():
    # q = 0.12. 20 HIGH predictions: 10 at p = 0.95 (interval [0.83, 1], width 0.17: narrow,
    # auto-tickets), 4 of them legitimate; 10 at p = 0.5 (width 0.24: human review), 7 legitimate.
    p = [0.95] * 10 + [0.5] * 10 + [0.05] * 80
    y = [1] * 6 + [0] * 4 + [1] * 3 + [0] * 7 + [0] * 80
    figures = _figures({"v1": _labeled(p, y, [True] * 20 + [False] * 80, q=0.12)})
    html = _text(report.render_html(figures, CONTEXT))
    assert "false-positive" not in html.lower() and "false positive" not in html.lower()
    assert "precision" not in html.lower()
    assert "share of auto-tickets that were legitimate is 40.0 %" in html  # 4 of 10, by hand
    assert "share of human reviews that were legitimate is 70.0 %" in html  # 7 of 10
    table = [row for row in csv.DictReader(io.StringIO(report.figures_csv(figures)))]
    automation = {row["column"]: row["value"] for row in table if row["table"] == "automation"}
    assert (automation["legitimate_auto_tickets"], float(automation["auto_ticket_legitimate_share"])) == ("4", 0.4)
    assert not any("false_positive" in row["column"] or row["column"] == "precision" for row in table)


def test_replay_rows_with_identical_outcomes_are_one_row_with_the_threshold_range():
    from fraudcal.coverage import threshold_replay

    # Widths 0.18 (two, one fraud) and 0.32 (one fraud), all HIGH: thresholds 0.05-0.15 ticket
    # nothing, 0.20-0.30 the two narrow ones, 0.35-0.50 all three.
    replay = threshold_replay([0.18, 0.18, 0.32], [True, True, True], [1, 0, 1])
    rows = report.replay_rows(replay, 0.2)
    assert [row["thresholds"] for row in rows] == ["0.05\u20130.15", "0.20\u20130.30", "0.35\u20130.50"]
    assert [row["auto_tickets"] for row in rows] == [0, 2, 3]
    assert [row["missed_frauds"] for row in rows] == [2, 1, 0]
    assert [row["current"] for row in rows] == [False, True, False]
    assert len(replay) == 10  # the core (and the CSV) keep every threshold


def test_the_rendered_replay_table_repeats_no_row():
    import re

    figures = _figures({"v1": _rare_fraud()})
    html = report.render_html(figures, CONTEXT)
    table = html.split("narrow threshold (width below)")[1].split("</table>")[0]
    cells = [re.sub(r"<[^>]+>", "", row) for row in re.findall(r"<tr.*?</tr>", table, flags=re.S)]
    outcomes = [re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)[1:] for row in re.findall(r"<tr.*?</tr>", table, flags=re.S)]
    assert all(a != b for a, b in zip(outcomes, outcomes[1:], strict=False)), cells
    assert len(cells) == 1 and "0.05\u20130.50" in cells[0]  # no prediction is HIGH: one outcome for all


def test_each_word_a_reader_may_not_know_is_explained_once_where_it_first_appears():
    import re

    figures = _figures({"v1": _rare_fraud(), "v2": _rare_fraud()})
    text = _text(report.render_html(figures, {**CONTEXT, "chart_files": []}))
    explanations = {
        "Wilson interval": "95 % Wilson interval: the range the true coverage lies in with 95 % confidence",
        # First said on the first screen (the auto-ticket rule of Mondrian's label sets), explained there.
        "label set": "label set: the outcomes a method allows for a prediction",
        "Venn-Abers": "Venn-Abers: a calibrated fraud probability p with an interval [p0, p1]",
        "reliability": "Reliability diagram: the predictions sorted by probability",
        "ECE": "ECE (expected calibration error):",
        "Mondrian": "per-class (Mondrian) calibration would give the confirmed frauds and the legitimate cases each their own quantile",
        "calibration set": "calibration set: the quantiles q computed each day",
        "calibration_score": "The calibration_score published with each calibration set is 1 minus the ECE",
    }
    # The findings (and their "What the words mean") come first, then one section per version.
    sections = text.split(" fraud_detector / v")
    assert len(sections) == 3
    for word, explanation in explanations.items():
        used = re.compile(rf"\b{re.escape(word)}\b", 0 if word.isupper() else re.IGNORECASE)
        where = next(index for index, section in enumerate(sections) if used.search(section))
        assert explanation in sections[where], (word, where)
        per_version = word == "Mondrian"  # said in each version's finding, in the same sentence
        assert text.count(explanation) == (2 if per_version else 1), word


def test_the_browser_copy_inlines_every_chart_and_references_no_cid():
    import base64
    import re

    from fraudcal_airflow.reporting.archive import browser_html

    figures = _figures({"v1": _rare_fraud()})
    charts = report.render_charts(figures)
    mail = report.render_html(figures, {**CONTEXT, "chart_files": sorted(charts)})
    browser = browser_html(mail, charts)
    assert "cid:" not in browser
    sources = re.findall(r'<img[^>]*\ssrc="([^"]+)"', browser)
    assert len(sources) == len(charts) == 2
    prefix = "data:image/png;base64,"
    assert all(src.startswith(prefix) for src in sources)
    assert sorted(base64.b64decode(src[len(prefix):]) for src in sources) == sorted(charts.values())
    assert set(re.findall(r'src="cid:([^"]+)"', mail)) == set(charts)  # the mail itself keeps cid:


# --------------------------------------------------------------------------- the methods side by side


def _with_mondrian(rows, q_zero, q_one, frauds=200.0):
    """The rows with a Mondrian set in force at every level: (q0, q1) and the window's frauds n1."""
    n = rows["id"].size
    for level in SUPPORTED_LEVELS:
        rows.update({f"mondrian_q0_{level}": np.full(n, q_zero), f"mondrian_q1_{level}": np.full(n, q_one),
                     f"mondrian_n1_{level}": np.full(n, frauds)})
    return rows


def _rare_fraud_with_mondrian(frauds=200.0):
    # As _rare_fraud (residual q = 0.1 covers no fraud), with Mondrian q0 = 0.1 and q1 = 0.96:
    # every legitimate case (p = 0.05 <= 0.1) and every fraud (1 - 0.05 = 0.95 <= 0.96) is covered.
    return _with_mondrian(_rare_fraud(), 0.1, 0.96, frauds)


def test_the_status_and_headline_follow_the_default_method():
    rows = {"v1": _rare_fraud_with_mondrian(), "v2": _rare_fraud_with_mondrian()}
    residual = _figures(rows)
    assert residual["status"] == "red"
    assert report.headline(residual).startswith("the 90 % intervals contained 0.0 % of confirmed frauds")
    mondrian = _figures(rows, default_method="mondrian", method_ages={"mondrian": {"v1": 1.0, "v2": 1.0}})
    assert mondrian["status"] == "green" and mondrian["findings"] == []
    assert report.headline(mondrian) == (
        "the 90 % Mondrian label sets contained 100.0 % of confirmed frauds and 100.0 % of legitimate cases "
        "(target 90 %)"
    )
    # The residual shortfall is not hidden: it is among the other methods' findings, on the first screen.
    assert any("v1: the 90 % intervals contained 0.0 % of the confirmed frauds" in f for f in mondrian["other_findings"])
    screen = _text(report.render_html(mondrian, CONTEXT)).split(" fraud_detector / v1 ")[0]
    assert "Are Mondrian's label sets (the default method) trustworthy today? Yes." in screen
    assert (
        "Trust Mondrian's label sets: at 90 % they held 100.0 % of confirmed frauds (100 of 100; target 90 %, "
        "95 % Wilson interval 96.3 % to 100.0 %) and 100.0 % of legitimate cases, where the residual intervals "
        "held 0.0 % of confirmed frauds (0 of 100)." in screen
    )
    assert "v1: the 90 % intervals contained 0.0 % of the confirmed frauds" in screen
    # Without a Mondrian set recorded, Mondrian as the default cannot be green.
    missing = _figures({"v1": _rare_fraud()}, default_method="mondrian")
    assert missing["status"] == "red" and report.headline(missing).startswith("v1 has no Mondrian set")


def test_a_mondrian_window_with_too_few_frauds_is_said_on_the_first_screen():
    figures = _figures({"v1": _rare_fraud_with_mondrian(frauds=8.0)}, default_method="mondrian",
                       method_ages={"mondrian": {"v1": 1.0}})
    assert figures["status"] == "amber"
    text = _text(report.render_html(figures, CONTEXT))
    screen = text.split(" fraud_detector / v1 ")[0]
    assert "Caution: 1,000 predictions were judged with Mondrian sets whose window had fewer than 9 confirmed frauds" in screen
    assert "v1: 1,000 predictions judged with Mondrian sets that had too few frauds at 90 %" in report.headline(figures)
    assert "only 8 confirmed frauds; at 90 % a window needs at least 9" in screen
    assert "too few frauds" in text.split(" fraud_detector / v1 ")[1]  # marked in the side-by-side table


def test_venn_abers_is_never_an_auto_ticket_method_and_its_reliability_is_shown():
    from fraudcal.venn_abers import fit_venn_abers

    rng = np.random.default_rng(5)
    window_p = rng.beta(0.5, 4.5, 2_000)
    venn_abers = fit_venn_abers(window_p, rng.random(2_000) < window_p)
    rows = _with_mondrian(_rows(1_000, 6), 0.3, 0.3)
    as_ofs = np.array(["2025-01-31T00:00"], dtype="datetime64[us]")
    figures = _figures({"v1": rows}, default_method="venn_abers", method_ages={"venn_abers": {"v1": 1.0}},
                       venn_abers_by_version={"v1": (as_ofs, [venn_abers.to_dict()])})
    entry = figures["versions"][0]["comparison"]["methods"]["venn_abers"]
    assert entry["n"] == 1_000 and entry["automation"]["auto_tickets"] == 0
    assert entry["automation"]["human_reviews"] == int(rows["high_risk"].sum())
    assert figures["status"] == "green"  # no coverage claim to break; the set is fresh
    assert report.headline(figures).startswith("Venn-Abers probabilities of 1,000 labeled predictions: ECE ")
    text = _text(report.render_html(figures, CONTEXT))
    assert "it measures data density, not error, so it decides no auto-tickets" in text
    table = list(csv.DictReader(io.StringIO(report.figures_csv(figures))))
    ece = {row["column"]: float(row["value"]) for row in table if row["table"] == "venn_abers" and row["column"].startswith("ece")}
    assert ece == {"ece_raw": entry["ece_raw"], "ece_p": entry["ece_p"]}


def test_the_csv_carries_each_methods_per_class_coverage():
    figures = _figures({"v1": _rare_fraud_with_mondrian()}, default_method="mondrian",
                       method_ages={"mondrian": {"v1": 1.0}})
    table = list(csv.DictReader(io.StringIO(report.figures_csv(figures))))
    cells = {(r["row"], r["column"]): r["value"] for r in table if r["table"] == "method_coverage"}
    assert (cells[("mondrian/90/fraud", "covered")], cells[("mondrian/90/fraud", "n")]) == ("50", "50")
    assert (cells[("residual/90/fraud", "covered")], cells[("residual/90/fraud", "n")]) == ("0", "50")
    statuses = {r["row"]: r["value"] for r in table if r["table"] == "method_status" and r["column"] == "status"}
    assert statuses == {"residual": "red", "mondrian": "green", "venn_abers": "red"}  # no Venn-Abers set recorded


# --------------------------------------------------------------------------- certified triage

Z95 = 1.959963984540054


def _wilson(k: int, n: int) -> tuple[float, float]:
    """The 95 % Wilson score interval from its formula."""
    import math

    p = k / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return (0.0 if k == 0 else centre - half), (1.0 if k == n else centre + half)


def _ci(k: int, n: int) -> str:
    low, high = _wilson(k, n)
    return f"{k / n * 100:.1f} % (95 % CI {low * 100:.1f}\u2013{high * 100:.1f} %)"


def _certificate(ticket, clear=None, as_of="2025-01-31T00:00", reason="no candidate reached the target"):
    def side(name, threshold, target):
        return {
            "side": name, "certified": threshold is not None, "threshold": threshold, "target": target,
            "confidence": 0.9, "lower_bound": None, "n_automated": 0, "n_correct": 0, "n_window": 1_000,
            "candidates_tested": 3, "reason": "certified" if threshold is not None else reason,
        }

    return {"as_of": np.datetime64(as_of, "us"), "confidence": 0.9, "status": "in_force",
            "ticket": side("ticket", ticket, 0.95), "clear": side("clear", clear, 0.99)}


def _triage_rows(tickets: int, frauds: int, cleared: int = 0, reviews: int = 10) -> dict[str, np.ndarray]:
    """``tickets`` scores of 0.97 (``frauds`` of them frauds), ``cleared`` of 0.01 (legitimate), ``reviews`` of 0.5."""
    p = [0.97] * tickets + [0.01] * cleared + [0.5] * reviews
    y = [1] * frauds + [0] * (tickets - frauds) + [0] * cleared + [0] * reviews
    return _labeled(p, y, [score >= 0.5 for score in p])


def _triage_figures(rows_by_version, certificates_by_version, **changes):
    return _figures(rows_by_version, triage_by_version=certificates_by_version, **changes)


def test_the_first_screen_sentence_for_many_one_and_no_auto_tickets():
    figures = _triage_figures(
        {"many": _triage_rows(412, 396, cleared=30), "one": _triage_rows(1, 1), "none": _triage_rows(0, 0)},
        {"many": [_certificate(0.9, 0.02)], "one": [_certificate(0.9)], "none": [_certificate(0.98)]},
    )
    lines = {line["text"].split(":")[0]: line for version in figures["versions"] for line in report.triage_lines(version["triage"])}
    texts = [line["text"] for version in figures["versions"] for line in report.triage_lines(version["triage"])]
    assert f"many: 412 auto-tickets at a certified precision of \u2265 95 % (90 % confidence); realized {_ci(396, 412)}" in texts
    assert f"one: 1 auto-ticket at a certified precision of \u2265 95 % (90 % confidence); realized {_ci(1, 1)}" in texts
    assert (
        "none: 0 auto-tickets at a certified precision of \u2265 95 % (90 % confidence); no labeled score reached the "
        "threshold (score \u2265 0.980), so the realized precision cannot be measured"
    ) in texts
    assert f"many: 30 auto-cleared at a certified NPV of \u2265 99 % (90 % confidence); realized {_ci(30, 30)}" in texts
    assert "many: 10 of the 452 labeled predictions judged by certified thresholds went to human review (2.2 %)" in texts
    assert not any(line["alarm"] for line in lines.values())
    # 396 of 412 = 96.1 %: on target within its interval, so nothing is red and the status is untouched.
    plain = _figures({"many": _triage_rows(412, 396, cleared=30)})
    assert _triage_figures({"many": _triage_rows(412, 396, cleared=30)}, {"many": [_certificate(0.9, 0.02)]})["status"] == plain["status"]


def test_a_violated_certificate_is_red_on_the_first_screen_and_in_the_subject():
    # 380 of 412 = 92.2 %: Wilson upper below 0.95, so the certificate is violated.
    assert _wilson(380, 412)[1] < 0.95
    rows = {"v1": _triage_rows(412, 380), "v2": _triage_rows(50, 50)}
    figures = _triage_figures(rows, {"v1": [_certificate(0.9)], "v2": [_certificate(0.9)]})
    v1 = next(version for version in figures["versions"] if version["model_version"] == "v1")
    assert v1["status"] == "red" and v1["triage"]["violated"] and figures["status"] == "red"
    sentence = (
        f"v1: 412 auto-tickets at a certified precision of \u2265 95 % (90 % confidence); realized {_ci(380, 412)}: "
        "certificate violated, the realized precision is below its target beyond the 95 % Wilson interval"
    )
    assert sentence in figures["findings"]
    assert report.problems(figures)[0] == "v1: auto-ticket precision 92.2 % below the certified 95 % (certificate violated)"
    html = report.render_html(figures, CONTEXT)
    assert f'<li style="color:#b3261e;font-weight:bold;">{sentence}</li>' in html.replace("&lt;", "<")
    screen = _text(html).split(" fraud_detector / v1 ")[0]
    assert sentence in screen and "v2: 50 auto-tickets at a certified precision" in screen
    assert '<li>v2: 50 auto-tickets' in html  # met: not red


def test_no_certified_threshold_is_red_and_no_row_recorded_is_said():
    figures = _triage_figures(
        {"uncertified": _triage_rows(20, 20), "old": _triage_rows(20, 20)},
        {"uncertified": [_certificate(None, reason="too few frauds in the window")]},
    )
    html = report.render_html(figures, CONTEXT)
    sentence = (
        "uncertified: no auto-ticket threshold certified: every HIGH/CRITICAL score went to human review "
        "(too few frauds in the window)"
    )
    assert f'<li style="color:#b3261e;font-weight:bold;">{sentence}</li>' in html
    assert "<li>old: no certified thresholds recorded</li>" in html
    old = next(version for version in figures["versions"] if version["model_version"] == "old")
    assert old["triage"]["recorded"] is False and "certified_replay" not in old
    # Nothing promised, nothing violated: the status is what the coverage says.
    assert figures["status"] == _figures({"uncertified": _triage_rows(20, 20), "old": _triage_rows(20, 20)})["status"]


def test_predictions_before_the_first_certificate_are_said_not_judged():
    figures = _triage_figures({"v1": _triage_rows(5, 5)}, {"v1": [_certificate(0.9, as_of="2025-03-01T00:00")]})
    (line,) = report.triage_lines(figures["versions"][0]["triage"])
    assert line == {
        "text": "v1: no certified thresholds were in force for the 15 labeled predictions of this period "
        "(the first took force at 2025-03-01T00:00:00 UTC)",
        "alarm": False,
    }


def test_the_replay_table_marks_the_certified_rule_and_the_csv_keeps_the_triage():
    import re

    rows = _triage_rows(40, 38, cleared=5)
    figures = _triage_figures({"v1": rows}, {"v1": [_certificate(0.9, 0.02)]})
    html = report.render_html(figures, CONTEXT)
    table = html.split("narrow threshold (width below)")[1].split("</table>")[0]
    first = re.sub(r"<[^>]+>", " ", re.findall(r"<tr.*?</tr>", table, flags=re.S)[0])
    assert "certified: score \u2265 0.900 (in force)" in first
    cells = re.findall(r"<td[^>]*>(.*?)</td>", re.findall(r"<tr.*?</tr>", table, flags=re.S)[0], flags=re.S)
    # 40 tickets of the 50 HIGH/CRITICAL (the 0.97s and the 0.5s), 2 of the 40 legitimate, every fraud ticketed.
    assert cells[1:] == ["40", "80.0&nbsp;%", "5.0&nbsp;%", "0"]
    table = list(csv.DictReader(io.StringIO(report.figures_csv(figures))))
    triage = {(r["row"], r["column"]): r["value"] for r in table if r["table"] == "triage"}
    assert (triage[("all", "ticket_n")], triage[("all", "ticket_correct")]) == ("40", "38")
    assert (triage[("all", "clear_n")], triage[("all", "review_n")]) == ("5", "10")
    assert triage[("2025-02-01", "ticket_n")] == "40"
    replay = {r["column"]: r["value"] for r in table if r["table"] == "certified_replay"}
    assert (replay["auto_tickets"], replay["legitimate_auto_tickets"], replay["thresholds"]) == ("40", "2", "0.9")


def test_a_broken_certificate_row_costs_only_the_triage_of_its_version():
    broken = _certificate(0.9)
    del broken["as_of"]
    figures = _triage_figures({"v1": _triage_rows(10, 10), "v2": _triage_rows(10, 10)}, {"v1": [broken], "v2": [_certificate(0.9)]})
    by_name = {version["model_version"]: version for version in figures["versions"]}
    assert "error" in by_name["v1"]["triage"] and "coverage" in by_name["v1"]  # the coverage figures stay
    assert by_name["v1"]["status"] == "red"
    assert any(f.startswith("v1: certified triage could not be measured (KeyError") for f in figures["findings"])
    assert not by_name["v2"]["triage"]["violated"]
    report.render_html(figures, CONTEXT)  # renders


# ----------------------------------------------------------------------------- label arrival


def _arrival_snapshots():
    """One snapshot of v1 on 2025-02-07 (cohorts up to 30 days old) and an older one that must not count."""
    from datetime import date, timedelta

    import pandas as pd

    rows = []
    for snapshot, shift in ((date(2025, 2, 5), 5), (date(2025, 2, 7), 0)):
        for age in range(31):
            n = 100 + age
            labeled = min(n, 10 + 15 * age + shift)
            rows.append({"model_version": "v1", "prediction_day": snapshot - timedelta(days=age), "snapshot_day": snapshot,
                         "n_predictions": n, "n_labeled": labeled, "n_fraud": labeled // 10})
    return pd.DataFrame(rows)


def test_the_coverage_report_shows_and_exports_the_labeled_share_by_cohort_age():
    from datetime import date

    from fraudcal.coverage import label_arrival_by_version

    arrival = label_arrival_by_version(_arrival_snapshots(), ["v1", "v2"], date(2025, 2, 7))
    figures = _figures({"v1": _rare_fraud()}, label_arrival=arrival)  # v2 has no labeled rows and no snapshot
    assert [entry["model_version"] for entry in figures["label_arrival"]] == ["v1", "v2"]
    html = _text(report.render_html(figures, CONTEXT))
    assert "When the labels arrive" in html
    assert "v2 : no label snapshots yet (calibrate_fraud_model records one per day)." in html  # (v2 in bold)
    # age 0 of the 2025-02-07 snapshot: 10 of 100 labeled, 1 fraud; age 21: 121 predictions, all 121 labeled, 12
    assert "0 1 100 10 10.0 % 1 10.0 %" in html
    assert "21 1 121 121 100.0 % 12 9.9 %" in html
    # ages 22..30 pooled: 9 cohorts, 122+...+130 predictions, all labeled, sum of n // 10 frauds
    n = sum(range(122, 131))
    frauds = sum(value // 10 for value in range(122, 131))
    assert f"22\u201330 (pooled) 9 {n:,} {n:,} 100.0 % {frauds} {frauds / n * 100:.1f} %" in html
    table = [row for row in csv.DictReader(io.StringIO(report.figures_csv(figures))) if row["table"] == "label_arrival"]
    values = {(row["model_version"], row["row"], row["column"]): row["value"] for row in table}
    assert (values[("v1", "3", "n_labeled")], values[("v1", "3", "n_predictions")]) == ("55", "103")
    assert float(values[("v1", "3", "labeled_share")]) == 55 / 103
    assert float(values[("v1", "22-30", "fraud_share")]) == frauds / n
    assert values[("v1", "auto", "snapshot_day")] == "2025-02-07"
    assert values[("v1", "auto", "reason")] == arrival["v1"]["auto"]["reason"]
    assert values[("v2", "auto", "reason")] == "no label snapshots yet (calibrate_fraud_model records one per day)"
    assert figures["status"] == _figures({"v1": _rare_fraud()})["status"]  # it informs; the status does not follow it
