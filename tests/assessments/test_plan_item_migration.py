"""Migration 0009 drops a plan item's duplicate main finding (``finding``, ``finding_title``),
which ``findings`` already holds first. Run on a database filled in the previous layout: the
plan is made by the app, the migration is undone (the columns come back, filled from the list),
rows are then written as the old code wrote them, and the migration runs again."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from assessments.models import PlanItem
from tests.assessments.conftest import ANKLE_AND_VALGUS, make_plan

BEFORE = ("assessments", "0008_measurement_confidence")


@pytest.mark.django_db(transaction=True)
def test_every_plan_item_keeps_the_findings_it_answers(library, client_record, clinician) -> None:
    plan = make_plan(client=client_record, clinician=clinician, values=ANKLE_AND_VALGUS)
    items = list(PlanItem.objects.filter(phase__plan=plan).order_by("pk"))
    assert len(items) >= 3
    untouched, written_before_the_list, main_not_in_list = items[:3]
    expected = {item.pk: item.findings for item in items}

    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    old = executor.loader.project_state([BEFORE]).apps.get_model("assessments", "PlanItem")
    # Filled back from the list on the way down.
    row = old.objects.get(pk=untouched.pk)
    assert (row.finding, row.finding_title) == (
        untouched.findings[0]["identity"],
        untouched.findings[0]["title"],
    )
    # An item from before the list existed: only the main finding.
    first = written_before_the_list.findings[0]
    old.objects.filter(pk=written_before_the_list.pk).update(findings=[])
    expected[written_before_the_list.pk] = [first]
    # An item whose main finding is not in its list.
    old.objects.filter(pk=main_not_in_list.pk).update(
        finding="faber_restricted:left", finding_title="Left hip restricted in FABER"
    )
    expected[main_not_in_list.pk] = [
        {"identity": "faber_restricted:left", "title": "Left hip restricted in FABER"},
        *main_not_in_list.findings,
    ]

    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    after = {item.pk: item.findings for item in PlanItem.objects.filter(phase__plan=plan)}
    assert after == expected
    assert PlanItem.objects.get(pk=untouched.pk).answers == untouched.findings
