"""Every shipped rule: cases that fire (exact findings, key values in the message) and near misses that must not.

Each evaluation is cross-checked: the engine and the reference evaluation must agree (helpers.run asserts it).
Contract K1 (BrandH NB-450 and NB-460, signed 2024-03-04) buys from FAC-A (makes NB-450) and FAC-B (makes every
BrandH model); FAC-Z is not linked to it. Evaluations are as of 2025-01-31 unless a test says otherwise.
"""

from __future__ import annotations

import datetime as dt

import pytest
from helpers import (
    AS_OF,
    FACILITY,
    MODEL,
    OTHER_FACILITY,
    OTHER_MODEL,
    UNLINKED_FACILITY,
    bundle,
    evaluator,
    evidence,
    found,
    make_contract,
    messages,
    run,
)

from compliance.evaluation import contract as evaluation
from compliance.evaluation.contract import Evaluator

D = dt.date

# ---------------------------------------------------------------------------------------------------------------------
# GR-03: adverse action within window_days (180) after a protected activity, same subject and facility


def protected(day: dt.date, subject: str = "wg_b", **fields) -> object:
    return evidence("protected_activity", id=fields.pop("id", "PA-1"), date=day, subject=subject,
                    activity="spoke_to_monitors", **fields)


def adverse(day: dt.date, subject: str = "wg_b", **fields) -> object:
    return evidence("adverse_action", id=fields.pop("id", "AA-1"), date=day, subject=subject,
                    action=fields.pop("action", "non_renewal"), **fields)


def test_gr03_fires_on_an_adverse_action_after_a_protected_activity():
    result = run([protected(D(2024, 9, 10)), adverse(D(2024, 10, 2))])
    assert found(result, "GR-03") == {("GR-03", ("AA-1", "PA-1"))}
    [message] = messages(result, "GR-03")
    assert "22 days after protected activity PA-1" in message
    assert "on 2024-10-02" in message and "(window 180 days)" in message and "non renewal" in message
    [finding] = [f for f in result.findings if f.rule_id == "GR-03"]
    assert finding.facility_id == FACILITY
    assert finding.respond_by == AS_OF + dt.timedelta(days=2)  # respond_within_days: 2


@pytest.mark.parametrize("gap, fires", [(1, True), (179, True), (180, True), (181, False), (0, False), (-1, False)])
def test_gr03_window_boundaries(gap: int, fires: bool):
    start = D(2024, 6, 1)
    result = run([protected(start), adverse(start + dt.timedelta(days=gap))])
    assert found(result, "GR-03") == ({("GR-03", ("AA-1", "PA-1"))} if fires else set())


def test_gr03_needs_the_same_subject():
    assert found(run([protected(D(2024, 9, 10)), adverse(D(2024, 10, 2), subject="wg_c")]), "GR-03") == set()


def test_gr03_needs_the_same_facility():
    records = [protected(D(2024, 9, 10)), adverse(D(2024, 10, 2), facility_id=OTHER_FACILITY)]
    assert found(run(records), "GR-03") == set()


def test_gr03_a_documented_prior_reason_is_not_retaliation():
    records = [protected(D(2024, 9, 10)), adverse(D(2024, 10, 2), documented_prior_reason=True)]
    assert found(run(records), "GR-03") == set()


def test_gr03_one_finding_per_adverse_action_citing_the_latest_protected_activity_before_it():
    records = [protected(D(2024, 9, 10)), protected(D(2024, 9, 20), id="PA-2"), adverse(D(2024, 10, 2)),
               adverse(D(2024, 9, 15), id="AA-2"), adverse(D(2024, 10, 2), subject="wg_x", id="AA-3")]
    assert found(run(records), "GR-03") == {("GR-03", ("AA-1", "PA-2")), ("GR-03", ("AA-2", "PA-1"))}


def test_gr03_and_gr03t_never_both_find_one_threat():
    threat = adverse(D(2024, 10, 2), action="threat")
    for records, rule_id in (([threat], "GR-03-T"), ([protected(D(2024, 9, 10)), threat], "GR-03"),
                             ([protected(D(2024, 3, 1)), threat], "GR-03-T")):
        result = run(records)
        assert {f.rule_id for f in result.findings if f.rule_id.startswith("GR-03")} == {rule_id}


def test_gr03_per_contract_parameter_override_widens_the_window():
    records = [protected(D(2024, 3, 10)), adverse(D(2024, 9, 26))]  # 200 days later
    assert found(run(records), "GR-03") == set()
    widened = make_contract(parameters={"GR-03": {"window_days": 365}})
    result = run(records, contract=widened)
    assert found(result, "GR-03") == {("GR-03", ("AA-1", "PA-1"))}
    assert "200 days after" in messages(result, "GR-03")[0]
    assert "(window 365 days)" in messages(result, "GR-03")[0]


# ---------------------------------------------------------------------------------------------------------------------
# TR-01: final-assembly factory disclosed within disclosure_days (90) after signature (2024-03-04 -> 2024-06-02)

DEADLINE = D(2024, 6, 2)


def disclosure(day: dt.date, model: str = MODEL, **fields) -> object:
    return evidence("factory_disclosure", id=fields.pop("id", "D1"), contract_id="K1", date=day, model=model, **fields)


def formal_request(day: dt.date, **fields) -> object:
    return evidence("correspondence", id=fields.pop("id", "C1"), contract_id="K1", date=day,
                    kind="formal_request_to_supplier", **fields)


def tr01_models(result) -> set[str]:
    out = set()
    for message in messages(result, "TR-01"):
        out |= {m for m in (MODEL, OTHER_MODEL) if f"model {m} " in message}
    return out


def test_tr01_fires_for_each_in_scope_model_without_a_disclosure():
    result = run([])
    assert found(result, "TR-01") == {("TR-01", ())}  # contract facts are not evidence
    assert len(messages(result, "TR-01")) == 2
    assert tr01_models(result) == {MODEL, OTHER_MODEL}
    message = next(m for m in messages(result, "TR-01") if MODEL in m)
    assert "model NB-450 (BrandH); it was due by 2024-06-02, 90 days after signature on 2024-03-04" in message


@pytest.mark.parametrize("day, fires", [(DEADLINE - dt.timedelta(days=30), False), (DEADLINE, False),
                                        (DEADLINE + dt.timedelta(days=1), False), (AS_OF, False),
                                        (AS_OF + dt.timedelta(days=1), True)])
def test_tr01_tests_coverage_at_the_as_of_date(day: dt.date, fires: bool):
    # A disclosure made late still covers the model once made; one dated after the as-of date is not known yet.
    result = run([disclosure(day)])
    assert tr01_models(result) == ({MODEL, OTHER_MODEL} if fires else {OTHER_MODEL})


@pytest.mark.parametrize("as_of, fires", [(DEADLINE - dt.timedelta(days=1), False), (DEADLINE, False),
                                          (DEADLINE + dt.timedelta(days=1), True)])
def test_tr01_does_not_fire_before_the_deadline_has_passed(as_of: dt.date, fires: bool):
    # The deadline day itself still counts (a disclosure dated that day is in time): the rule fires the day after.
    assert tr01_models(run([], as_of=as_of)) == ({MODEL, OTHER_MODEL} if fires else set())


def test_tr01_a_formal_request_for_the_model_or_for_all_models_is_due_diligence():
    assert tr01_models(run([formal_request(D(2024, 5, 1), model=MODEL)])) == {OTHER_MODEL}
    assert tr01_models(run([formal_request(D(2024, 5, 1))])) == set()  # no model: covers every model
    assert tr01_models(run([formal_request(D(2024, 6, 3))])) == {MODEL, OTHER_MODEL}  # too late
    other_kind = evidence("correspondence", id="C1", contract_id="K1", date="2024-05-01", kind="reminder")
    assert tr01_models(run([other_kind])) == {MODEL, OTHER_MODEL}


def test_tr01_items_out_of_scope_need_no_disclosure():
    contract = make_contract(items=[{"id": "1", "brand": "BrandH", "model": MODEL, "disclosure_in_scope": False},
                                    {"id": "2", "brand": "BrandH", "model": OTHER_MODEL}])
    assert tr01_models(run([], contract=contract)) == {OTHER_MODEL}


def test_tr01_a_disclosure_for_another_model_or_tier_does_not_count():
    assert tr01_models(run([disclosure(D(2024, 5, 1), model="NB-999")])) == {MODEL, OTHER_MODEL}
    assert tr01_models(run([disclosure(D(2024, 5, 1), tier="strategic_component")])) == {MODEL, OTHER_MODEL}


def test_tr01_clause_set_override_shortens_the_deadline():
    ndna = make_contract(clause_set={"id": "EWCC-v2-UK-NDNA", "version": "2.0"})
    records = [disclosure(D(2024, 5, 20)), disclosure(D(2024, 5, 20), model=OTHER_MODEL, id="D2")]
    assert tr01_models(run(records, as_of=D(2024, 5, 19))) == set()  # nothing disclosed, but 90 days not over
    result = run(records, as_of=D(2024, 5, 19), contract=ndna)  # while 60 days are (2024-05-03)
    assert tr01_models(result) == {MODEL, OTHER_MODEL}
    assert all("due by 2024-05-03, 60 days after signature" in m for m in messages(result, "TR-01"))
    assert tr01_models(run([disclosure(D(2024, 5, 3)), disclosure(D(2024, 5, 3), model=OTHER_MODEL, id="D2")],
                           contract=ndna)) == set()


def test_a_contract_parameter_beats_the_clause_set():
    ndna = make_contract(clause_set={"id": "EWCC-v2-UK-NDNA", "version": "2.0"},
                         parameters={"TR-01": {"disclosure_days": 120}})
    assert evaluation.rule_parameters(evaluator().library, ndna)["TR-01"]["disclosure_days"] == 120
    # As of 2024-06-19 nothing is disclosed yet: 60 days are over (2024-05-03), 120 are not (2024-07-02).
    records = [disclosure(D(2024, 6, 20)), disclosure(D(2024, 6, 20), model=OTHER_MODEL, id="D2")]
    assert tr01_models(run(records, as_of=D(2024, 6, 19), contract=ndna)) == set()
    only_ndna = make_contract(clause_set={"id": "EWCC-v2-UK-NDNA", "version": "2.0"})
    assert tr01_models(run(records, as_of=D(2024, 6, 19), contract=only_ndna)) == {MODEL, OTHER_MODEL}



def test_an_override_of_a_rule_reaches_its_variants_unless_a_variant_is_named():
    library = evaluator().library
    ndna = make_contract(clause_set={"id": "EWCC-v2-UK-NDNA", "version": "2.0"})
    params = evaluation.rule_parameters(library, ndna)
    # The NDNA clause set names TR-01 only: the due-diligence and not-yet-due variants follow it.
    assert {rule_id: params[rule_id]["disclosure_days"] for rule_id in ("TR-01", "TR-01-DD", "TR-01-NYD")} == {
        "TR-01": 60, "TR-01-DD": 60, "TR-01-NYD": 60}
    own = make_contract(clause_set={"id": "EWCC-v2-UK-NDNA", "version": "2.0"},
                        parameters={"TR-01": {"disclosure_days": 45}, "TR-01-NYD": {"disclosure_days": 30}})
    params = evaluation.rule_parameters(library, own)
    assert [params[r]["disclosure_days"] for r in ("TR-01", "TR-01-DD", "TR-01-NYD")] == [45, 45, 30]
    # A parameter none of the family has is an error, as is an unknown family.
    bad = make_contract(parameters={"TR-01": {"disclosure_day": 45}, "QQQQQQ-Z": {"x": 1}})
    assert [str(p) for p in evaluation.contract_parameter_problems(library, bad)] == [
        'contract K1: parameters.TR-01: rule TR-01 has no parameter "disclosure_day"; did you mean "disclosure_days"?',
        'contract K1: parameters: unknown rule "QQQQQQ-Z"',
    ]


# ---------------------------------------------------------------------------------------------------------------------
# GR-04: confirmed harm not paid in full by the due date; only the latest report per (finding_ref, kind) counts


def remediation(day: dt.date, paid: float, **fields) -> object:
    data = dict(kind="back_pay", finding_ref="F1", due_date="2024-11-15", amount_due=100, amount_paid=paid,
                currency="THB", workers_due=10, workers_paid=10 if paid >= 100 else 6, verified_by="monitoring_partner")
    data.update(fields)
    return evidence("remediation", id=data.pop("id", "R1"), date=day, **data)

# durable_rules 2.0.28, events.c isAlphaMatch: when a test compares with another field of the same fact ("$m") and
# that field is missing, it reads an uninitialised result and may match. The compiler guards such tests with
# "$ex" on both fields; the two tests below would show an engine fault without that guard.


def test_gr04_fires_when_the_latest_report_is_not_paid_in_full():
    result = run([remediation(D(2024, 12, 1), 60)])
    assert found(result, "GR-04") == {("GR-04", ("R1",))}
    [message] = messages(result, "GR-04")
    assert "Back pay for F1 was due on 2024-11-15: 60 of 100 THB paid, to 6 of 10 workers" in message


def test_gr04_a_later_full_payment_supersedes_an_earlier_unpaid_report():
    records = [remediation(D(2024, 12, 1), 60), remediation(D(2024, 12, 20), 100, id="R2")]
    assert found(run(records), "GR-04") == set()


def test_gr04_a_later_unpaid_report_supersedes_an_earlier_paid_one():
    records = [remediation(D(2024, 12, 1), 100), remediation(D(2024, 12, 20), 80, id="R2")]
    assert found(run(records), "GR-04") == {("GR-04", ("R2",))}


def test_gr04_is_not_due_yet():
    assert found(run([remediation(D(2024, 12, 1), 0, due_date="2025-03-01")]), "GR-04") == set()
    assert found(run([remediation(D(2024, 12, 1), 0, due_date=AS_OF.isoformat())]), "GR-04") == set()
    assert found(run([remediation(D(2024, 12, 1), 0, due_date="2025-01-30")]), "GR-04") == {("GR-04", ("R1",))}


def test_gr04_full_amount_but_not_to_every_worker():
    result = run([remediation(D(2024, 12, 1), 100, workers_paid=9)])
    assert found(result, "GR-04") == {("GR-04", ("R1",))}
    assert "to 9 of 10 workers" in messages(result, "GR-04")[0]


def test_gr04_an_unknown_number_of_workers_paid_is_not_a_breach_by_itself():
    # The full amount paid settles the remedy when the number of workers paid is not reported.
    assert found(run([remediation(D(2024, 12, 1), 100, workers_paid=None)]), "GR-04") == set()


def test_gr04_an_unknown_number_of_workers_due_is_not_a_breach_by_itself():
    # workers_paid < remedy.workers_due is unknown when workers_due is missing (paid in full otherwise).
    assert found(run([remediation(D(2024, 12, 1), 100, workers_due=None, workers_paid=3)]), "GR-04") == set()


def test_gr04_latest_is_per_finding_and_kind():
    records = [remediation(D(2024, 12, 1), 60), remediation(D(2024, 12, 20), 100, id="R2", finding_ref="F2"),
               remediation(D(2024, 12, 21), 100, id="R3", kind="fee_reimbursement")]
    assert found(run(records), "GR-04") == {("GR-04", ("R1",))}


def test_gr04_same_day_reports_break_ties_by_record_id():
    records = [remediation(D(2024, 12, 1), 100, id="R-b"), remediation(D(2024, 12, 1), 60, id="R-a")]
    assert found(run(records), "GR-04") == set()  # R-b is the latest
    records = [remediation(D(2024, 12, 1), 60, id="R-b"), remediation(D(2024, 12, 1), 100, id="R-a")]
    assert found(run(records), "GR-04") == {("GR-04", ("R-b",))}


# ---------------------------------------------------------------------------------------------------------------------
# PM-03: corrective action not completed by its due date or approved extension; the latest report counts


def action(day: dt.date, status: str = "in_progress", **fields) -> object:
    data = dict(cap_id="CAP1", action_ref="a1", due_date="2024-11-01")
    data.update(fields)
    return evidence("corrective_action", id=data.pop("id", "CA1"), date=day, status=status, **data)


def test_pm03_fires_when_overdue():
    result = run([action(D(2024, 10, 1))])
    assert found(result, "PM-03") == {("PM-03", ("CA1",))}
    [message] = messages(result, "PM-03")
    assert "Action a1 of corrective action plan CAP1 was due on 2024-11-01 and is in progress" in message
    assert "91 days overdue" in message


def test_pm03_completed_is_not_overdue():
    assert found(run([action(D(2024, 10, 1), "completed")]), "PM-03") == set()


def test_pm03_due_today_is_not_overdue_yet():
    assert found(run([action(D(2024, 10, 1), due_date=AS_OF.isoformat())]), "PM-03") == set()


def test_pm03_an_extension_in_the_future_suspends_it_and_one_in_the_past_does_not():
    assert found(run([action(D(2024, 10, 1), extended_to="2025-03-01")]), "PM-03") == set()
    assert found(run([action(D(2024, 10, 1), extended_to=AS_OF.isoformat())]), "PM-03") == set()
    result = run([action(D(2024, 10, 1), extended_to="2024-12-01")])
    assert found(result, "PM-03") == {("PM-03", ("CA1",))}
    assert "(extended to 2024-12-01)" in messages(result, "PM-03")[0]
    assert "61 days overdue" in messages(result, "PM-03")[0]


def test_pm03_the_latest_report_wins():
    assert found(run([action(D(2024, 10, 1)), action(D(2024, 12, 1), "completed", id="CA2")]), "PM-03") == set()
    reopened = [action(D(2024, 10, 1), "completed"), action(D(2024, 12, 1), "in_progress", id="CA2")]
    assert found(run(reopened), "PM-03") == {("PM-03", ("CA2",))}
    other_action = [action(D(2024, 10, 1)), action(D(2024, 12, 1), "completed", id="CA2", action_ref="a2")]
    assert found(run(other_action), "PM-03") == {("PM-03", ("CA1",))}


def test_pm03_the_finding_key_survives_a_newer_report_on_the_same_action():
    first = run([action(D(2024, 10, 1))])
    later = run([action(D(2024, 10, 1)), action(D(2024, 12, 1), id="CA2")])
    assert [f.key for f in first.findings if f.rule_id == "PM-03"] == \
        [f.key for f in later.findings if f.rule_id == "PM-03"]
    assert found(later, "PM-03") == {("PM-03", ("CA2",))}


# ---------------------------------------------------------------------------------------------------------------------
# FL-06: at least 2 distinct ILO indicators for one worker group at one facility within 365 days


def monitoring(day: dt.date, indicator: str | None, group: str | None = "wg_mm", **fields) -> object:
    return evidence("monitoring_finding", id=fields.pop("id"), date=day, code_area=fields.pop("code_area", "fees"),
                    worker_group=group, ilo_indicator=indicator, **fields)


def test_fl06_fires_on_two_distinct_indicators():
    records = [monitoring(D(2024, 9, 1), "debt_bondage", id="M1"),
               monitoring(D(2024, 10, 1), "retention_of_identity_documents", id="M2")]
    result = run(records)
    assert found(result, "FL-06") == {("FL-06", ("M1", "M2"))}
    [message] = messages(result, "FL-06")
    assert "2 distinct forced-labour indicators (debt bondage, retention of identity documents)" in message
    assert "for wg_mm at facility FAC-A between 2024-09-01 and 2024-10-01" in message
    assert "(threshold 2 within 365 days)" in message


@pytest.mark.parametrize("apart, fires", [(364, True), (365, False), (366, False)])
def test_fl06_window_boundary(apart: int, fires: bool):
    # A 365-day window starting on day d ends on d + 364: findings 364 days apart share one, 365 apart do not.
    start = D(2023, 12, 1)
    records = [monitoring(start, "debt_bondage", id="M1"),
               monitoring(start + dt.timedelta(days=apart), "retention_of_identity_documents", id="M2")]
    assert found(run(records), "FL-06") == ({("FL-06", ("M1", "M2"))} if fires else set())


def test_fl06_the_same_indicator_twice_is_one_indicator():
    records = [monitoring(D(2024, 9, 1), "debt_bondage", id="M1"), monitoring(D(2024, 10, 1), "debt_bondage", id="M2")]
    assert found(run(records), "FL-06") == set()


def test_fl06_counts_per_worker_group_and_facility():
    groups = [monitoring(D(2024, 9, 1), "debt_bondage", id="M1"),
              monitoring(D(2024, 10, 1), "retention_of_identity_documents", "wg_other", id="M2")]
    assert found(run(groups), "FL-06") == set()
    facilities = [monitoring(D(2024, 9, 1), "debt_bondage", id="M1"),
                  monitoring(D(2024, 10, 1), "retention_of_identity_documents", id="M2", facility_id=OTHER_FACILITY)]
    assert found(run(facilities), "FL-06") == set()


def test_fl06_findings_without_an_indicator_or_group_do_not_count():
    records = [monitoring(D(2024, 9, 1), "debt_bondage", id="M1"), monitoring(D(2024, 10, 1), None, id="M2"),
               monitoring(D(2024, 10, 2), "isolation", None, id="M3")]
    assert found(run(records), "FL-06") == set()


def test_fl06_the_finding_lists_every_member_of_the_window():
    records = [monitoring(D(2024, 9, 1), "debt_bondage", id="M1"), monitoring(D(2024, 9, 5), "debt_bondage", id="M2"),
               monitoring(D(2024, 10, 1), "retention_of_identity_documents", id="M3")]
    result = run(records)
    assert found(result, "FL-06") == {("FL-06", ("M1", "M2", "M3"))}
    assert messages(result, "FL-06")[0].startswith("2 distinct forced-labour indicators")


def test_fl06_per_contract_threshold_override():
    records = [monitoring(D(2024, 9, 1), "debt_bondage", id="M1"),
               monitoring(D(2024, 10, 1), "retention_of_identity_documents", id="M2")]
    strict = make_contract(parameters={"FL-06": {"min_indicators": 3}})
    assert found(run(records, contract=strict), "FL-06") == set()
    lenient = make_contract(parameters={"FL-06": {"min_indicators": 1}})
    assert found(run(records[:1], contract=lenient), "FL-06") == {("FL-06", ("M1",))}


# ---------------------------------------------------------------------------------------------------------------------
# FL-01: recruitment fees paid by workers (zero-fee standard, or above the legal limit)


def fee(median: float, **fields) -> object:
    return evidence("recruitment_fee", id=fields.pop("id", "RF1"), date=fields.pop("date", "2024-09-30"),
                    worker_group="wg_mm", median_fee=median, currency="THB", **fields)


def test_fl01_any_fee_under_the_zero_fee_standard():
    result = run([fee(20000)])
    assert found(result, "FL-01") == {("FL-01", ("RF1",))}
    [message] = messages(result, "FL-01")
    assert "Workers in wg_mm paid a median recruitment fee of 20,000 THB under the zero-fee standard" in message
    assert "(reported 2024-09-30)" in message


def test_fl01_a_zero_fee_is_fine():
    assert found(run([fee(0)]), "FL-01") == set()


@pytest.mark.parametrize("median, fires", [(100, False), (150, False), (150.5, True), (200, True)])
def test_fl01_legal_limit_standard(median: float, fires: bool):
    result = run([fee(median, standard_applied="legal_limit", legal_limit=150)])
    assert found(result, "FL-01") == ({("FL-01", ("RF1",))} if fires else set())
    if fires:
        assert f"of {median:,} THB against a legal limit of 150.0" in messages(result, "FL-01")[0]


def test_fl01_legal_limit_standard_without_a_limit_is_unknown():
    # median_fee > fee.legal_limit is unknown when legal_limit is missing: the rule must not fire.
    assert found(run([fee(200, standard_applied="legal_limit")]), "FL-01") == set()


# ---------------------------------------------------------------------------------------------------------------------
# FL-04: identity documents held by someone other than the worker, without access on request


def retention(**fields) -> object:
    data = dict(worker_group="wg_mm", documents=["passport", "work_permit"], holder="labour_agency",
                access_on_request=False)
    data.update(fields)
    return evidence("document_retention", id=data.pop("id", "DR1"), date="2024-09-30", **data)


def test_fl04_fires_on_documents_held_without_access():
    result = run([retention()])
    assert found(result, "FL-04") == {("FL-04", ("DR1",))}
    [message] = messages(result, "FL-04")
    assert message == ("Passport and work permit of wg_mm are held by the labour agency without access on request "
                       "(observed 2024-09-30).")
    assert result.findings[0].rule_id == "FL-04"  # priority findings sort first
    assert result.findings[0].respond_by == AS_OF + dt.timedelta(days=7)


def test_fl04_access_on_request_is_fine():
    assert found(run([retention(access_on_request=True)]), "FL-04") == set()


def test_fl04_documents_held_by_the_worker_are_fine():
    assert found(run([retention(holder="worker")]), "FL-04") == set()


# ---------------------------------------------------------------------------------------------------------------------
# WH-01: share of weeks over 60 h (limit 0.05), longest week (72 h), consecutive days without rest (6)


def hours(**fields) -> object:
    return evidence("working_hours", id=fields.pop("id", "W1"), date="2024-10-01", **fields)


WITHIN = dict(pct_weeks_over_60=0.05, max_week_hours=72, max_consecutive_days=6)


def test_wh01_fires_and_says_which_limits():
    result = run([hours(pct_weeks_over_60=0.23, max_week_hours=78, max_consecutive_days=13)])
    assert found(result, "WH-01") == {("WH-01", ("W1",))}
    [message] = messages(result, "WH-01")
    assert "23% of sampled weeks over 60 hours (limit 5%)" in message
    assert "a longest week of 78 hours (limit 72)" in message
    assert "up to 13 consecutive days without rest (limit 6)" in message


def test_wh01_every_limit_exactly_at_the_limit_is_fine():
    assert found(run([hours(**WITHIN)]), "WH-01") == set()


@pytest.mark.parametrize("field, over", [("pct_weeks_over_60", 0.051), ("max_week_hours", 72.5),
                                         ("max_consecutive_days", 7)])
def test_wh01_each_limit_just_over(field: str, over: float):
    assert found(run([hours(**{**WITHIN, field: over})]), "WH-01") == {("WH-01", ("W1",))}


def test_wh01_missing_figures_are_not_a_breach():
    assert found(run([hours()]), "WH-01") == set()
    assert found(run([hours(max_week_hours=80)]), "WH-01") == {("WH-01", ("W1",))}


def test_wh01_per_contract_limits():
    contract = make_contract(parameters={"WH-01": {"max_week_hours": 60}})
    assert found(run([hours(**WITHIN)], contract=contract), "WH-01") == {("WH-01", ("W1",))}


# ---------------------------------------------------------------------------------------------------------------------
# MO-03: audit conformance contradicted by worker-driven monitoring within 182 days either side


def audit(day: dt.date = D(2024, 7, 8), **fields) -> object:
    return evidence("audit_finding", id=fields.pop("id", "A1"), date=day, code_area=fields.pop("code_area", "docs"),
                    classification=fields.pop("classification", "conformance"), **fields)


@pytest.mark.parametrize("offset, fires", [(0, True), (182, True), (183, False), (-182, True), (-183, False)])
def test_mo03_window_either_side(offset: int, fires: bool):
    records = [audit(), monitoring(D(2024, 7, 8) + dt.timedelta(days=offset), None, id="M1", code_area="docs")]
    result = run(records)
    assert found(result, "MO-03") == ({("MO-03", ("A1", "M1"))} if fires else set())
    if fires:
        assert f"({abs(offset)} days apart, window 182)" in messages(result, "MO-03")[0]


def test_mo03_message():
    result = run([audit(audit_id="AUD-7"), monitoring(D(2024, 10, 1), None, id="M1", code_area="docs")])
    assert messages(result, "MO-03") == [
        "Audit AUD-7 of 2024-07-08 found conformance on docs, but worker-driven monitoring finding M1 of 2024-10-01 "
        "reports a problem in the same area (85 days apart, window 182)."
    ]


def test_mo03_needs_the_same_code_area_facility_and_a_conformance():
    assert found(run([audit(), monitoring(D(2024, 10, 1), None, id="M1", code_area="fees")]), "MO-03") == set()
    other_site = monitoring(D(2024, 10, 1), None, id="M1", code_area="docs", facility_id=OTHER_FACILITY)
    assert found(run([audit(), other_site]), "MO-03") == set()
    assert found(run([audit(classification="minor"), monitoring(D(2024, 10, 1), None, id="M1", code_area="docs")]),
                 "MO-03") == set()


# ---------------------------------------------------------------------------------------------------------------------
# Which contracts, which evidence


def test_rules_apply_to_active_contracts_only():
    records = [retention(), protected(D(2024, 9, 10)), adverse(D(2024, 10, 2))]
    breaches = {f.rule_id for f in run(records).findings if f.verdict == "breach"}
    assert breaches == {"FL-04", "GR-03", "TR-01", "TR-02"}
    for status in ("expired", "pending", "terminated", "cancelled"):
        result = run(records, contract=make_contract(status=status))
        assert result.findings == [] and result.rules_applied == []


def test_evidence_dated_after_as_of_is_ignored():
    records = [protected(D(2024, 9, 10)), adverse(D(2024, 10, 2))]
    assert found(run(records, as_of=D(2024, 10, 1)), "GR-03") == set()
    assert found(run(records, as_of=D(2024, 10, 2)), "GR-03") == {("GR-03", ("AA-1", "PA-1"))}


def test_evidence_about_an_unlinked_facility_is_ignored_unless_it_names_the_contract():
    assert found(run([retention(facility_id=UNLINKED_FACILITY)]), "FL-04") == set()
    named = retention(facility_id=UNLINKED_FACILITY, contract_id="K1")
    assert found(run([named]), "FL-04") == {("FL-04", ("DR1",))}
    other_contract = retention(contract_id="K2")
    assert found(run([other_contract]), "FL-04") == set()


def test_evidence_about_a_facility_linked_through_another_model_only_is_ignored():
    contract = make_contract(items=[{"id": "2", "brand": "BrandH", "model": OTHER_MODEL}])  # FAC-A makes NB-450
    assert found(run([retention()], contract=contract), "FL-04") == set()
    assert found(run([retention(facility_id=OTHER_FACILITY)], contract=contract), "FL-04") == {("FL-04", ("DR1",))}


# ---------------------------------------------------------------------------------------------------------------------
# Determinism and stable keys

EVERYTHING = [
    protected(D(2024, 9, 10)), adverse(D(2024, 10, 2)), retention(), fee(20000), hours(max_week_hours=80),
    audit(), monitoring(D(2024, 9, 1), "debt_bondage", id="M1", code_area="docs"),
    monitoring(D(2024, 10, 1), "retention_of_identity_documents", id="M2"),
    action(D(2024, 10, 1)), remediation(D(2024, 12, 1), 60),
]


def test_every_rule_fires_on_the_combined_example():
    result = run(EVERYTHING)
    assert {f.rule_id for f in result.findings if f.verdict == "breach"} == {
        "FL-01", "FL-04", "FL-06", "GR-03", "GR-04", "MO-03", "PM-03", "TR-01", "TR-02", "WH-01"}
    # FAC-B makes every BrandH model and nothing is on record about it: a data gap, not silence. The two indicators
    # that monitoring reports at FAC-A are those the fee and document findings establish: no FL-07 of their own.
    assert {(f.rule_id, f.facility_id) for f in result.findings if f.verdict != "breach"} == {("EV-01", OTHER_FACILITY)}
    assert {f.ilo_indicator for f in result.findings if f.rule_id in ("FL-01", "FL-04")} == {
        "debt_bondage", "retention_of_identity_documents"}
    ranks = [f.severity.rank for f in result.findings]
    assert ranks == sorted(ranks)


def test_two_evaluations_give_identical_findings_in_identical_order():
    first = run(EVERYTHING)
    second = run(list(reversed(EVERYTHING)))
    assert first.findings == second.findings
    fresh = Evaluator(evaluator().library).evaluate(bundle(EVERYTHING))  # a new engine session: the same answer
    assert fresh.faults == [] and fresh.findings == first.findings


def test_finding_keys_are_stable_when_unrelated_evidence_is_added():
    before = {f.key: f for f in run(EVERYTHING).findings}
    unrelated = [
        hours(id="W2", pct_weeks_over_60=0.0), audit(id="A2", code_area="wages", classification="conformance"),
        adverse(D(2024, 10, 3), subject="wg_z", id="AA-9"), retention(id="DR2", holder="worker"),
        evidence("external_signal", id="X1", date="2024-08-01", source_type="ngo", issue="wages", reliability="low"),
    ]
    after = {f.key: f for f in run(EVERYTHING + unrelated).findings}
    assert after.keys() == before.keys()
    assert all(after[k].message == before[k].message for k in before)
    assert len(set(before)) == len(run(EVERYTHING).findings)  # keys are unique


# ---------------------------------------------------------------------------------------------------------------------
# Data gaps: evidence freshness (EX-...) and repeat findings (PM-04)


def test_every_evidence_type_with_a_validity_period_has_a_freshness_rule_using_it():
    from compliance.domain import models

    rules = {rule.when.match[0].fact: rule for rule in evaluator().library.rules
             if rule.id.startswith("EX-") and rule.when.match}
    stateful = {name: cls.validity_days for name, cls in models.EVIDENCE_TYPES.items() if cls.validity_days}
    assert set(stateful) == set(rules)
    for fact_type, days in stateful.items():
        rule = rules[fact_type]
        assert rule.params["validity_days"] == days, rule.id
        assert rule.then.verdict == "evidence_expired" and rule.severity.value == "observation"


def test_an_expired_audit_is_a_data_gap_with_its_expiry_date():
    old_audit = audit(D(2022, 12, 1), id="A-OLD")
    result = run([old_audit], as_of=D(2025, 1, 31))
    [finding] = [f for f in result.findings if f.rule_id == "EX-AUDIT"]
    assert finding.verdict == "evidence_expired" and finding.evidence_ids == ["A-OLD"]
    assert finding.facility_id == FACILITY
    assert "expired on 2024-11-30, 730 days later" in finding.message
    fresh = run([old_audit, audit(D(2024, 12, 1), id="A-NEW")], as_of=D(2025, 1, 31))
    assert "EX-AUDIT" not in {f.rule_id for f in fresh.findings}


def test_a_repeat_finding_is_raised_a_level_and_says_which_closure_it_repeats():
    closed = action(D(2024, 3, 1), status="completed", id="CA-9", cap_id="CAP-7", completed_on="2024-02-28",
                    rule_id="FL-01", verified_by="monitoring_partner", facility_id=FACILITY)
    [finding] = [f for f in run([closed, fee(9000)]).findings if f.rule_id == "FL-01"]
    assert (finding.severity_base.value, finding.severity.value) == ("major", "priority")
    assert finding.modifiers == [
        "repeat finding: the same problem at this facility was closed on 2024-02-28 "
        "(CAP-7 action a1, verified by monitoring partner)"]
    # The same closure at another facility, or verified by the supplier only, is no repeat here.
    elsewhere = action(D(2024, 3, 1), status="completed", id="CA-9", completed_on="2024-02-28", rule_id="FL-01",
                       verified_by="monitoring_partner", facility_id=OTHER_FACILITY)
    self_verified = action(D(2024, 3, 1), status="completed", id="CA-9", completed_on="2024-02-28",
                           rule_id="FL-01", verified_by="supplier", facility_id=FACILITY)
    for record in (elsewhere, self_verified):
        [finding] = [f for f in run([record, fee(9000)]).findings if f.rule_id == "FL-01"]
        assert finding.severity.value == "major" and finding.modifiers == []
