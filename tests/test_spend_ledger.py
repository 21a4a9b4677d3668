"""Spend never forgets: deleted instances, restarts, runs while cloudpane was closed, midnight."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tui.services import pricing
from tui.services.job_models import Job, JobSpec, WorkerPool
from tui.services.models import Accelerator, Disk, Instance
from tui.services.spend_ledger import SpendStore
from tui.services.tuning import Trial, TuningJob

NOON = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)


def gpu_vm(started: datetime, **changes: object) -> Instance:
    instance = Instance(
        id="id-gpu",
        name="gpu-1",
        zone="us-central1-a",
        status="RUNNING",
        machine_type="n1-standard-4",
        accelerators=(Accelerator("nvidia-tesla-t4", 1),),
        created=started,
        last_start=started,
        disks=(Disk("boot", 100, "pd-balanced", True),),
    )
    return replace(instance, **changes)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> SpendStore:
    return SpendStore(tmp_path / "state" / "spend.json", "proj")


def today(ledger: pricing.RunLedger, instances: list[Instance], now: datetime) -> float:
    return pricing.ticker(instances, now, ledger=ledger).today.value


def test_deleting_a_vm_keeps_what_it_cost_today(store: SpendStore) -> None:
    vm = gpu_vm(NOON - timedelta(minutes=25))
    ledger = store.load()
    ledger.observe_all([vm], now=NOON, complete=True)
    before = today(ledger, [vm], NOON)
    assert before > 0.15  # ~25 minutes of a T4 VM
    # Next poll: deleted. Its run ended when it was last seen; today's figure keeps it.
    later = NOON + timedelta(seconds=5)
    ledger.observe_all([], now=later, complete=True)
    assert today(ledger, [], later) == pytest.approx(before)
    # An incomplete listing (a read failed) proves nothing: nothing is marked deleted.
    other = pricing.RunLedger()
    other.observe_all([vm], now=NOON, complete=True)
    other.observe_all([], now=later, complete=False)
    assert not other.gone


def test_a_restart_remembers_deleted_vms(store: SpendStore) -> None:
    vm = gpu_vm(NOON - timedelta(minutes=25))
    ledger = store.load()
    ledger.observe_all([vm], now=NOON, complete=True)
    ledger.observe_all([], now=NOON + timedelta(seconds=5), complete=True)
    before = today(ledger, [], NOON + timedelta(seconds=5))
    assert store.save(ledger, NOON + timedelta(seconds=5))
    assert oct(store.path.stat().st_mode & 0o777) == "0o600"

    restarted = SpendStore(store.path, "proj").load()
    after = today(restarted, [], NOON + timedelta(minutes=10))
    assert after == pytest.approx(before)
    assert SpendStore(store.path, "another-project").load().names == {}


def test_runs_while_cloudpane_was_closed_are_counted(store: SpendStore) -> None:
    """Seen running at 10:00, then closed; the VM stopped at 10:30 and started again at 11:00.
    At 12:00 Compute Engine reports only the latest run: the ledger closes the first at 10:30."""
    first = NOON - timedelta(hours=2)
    ledger = store.load()
    ledger.observe_all([gpu_vm(first)], now=first, complete=True)
    store.save(ledger, first)

    reopened = SpendStore(store.path, "proj").load()
    now_vm = gpu_vm(
        first, last_start=NOON - timedelta(hours=1), last_stop=first + timedelta(minutes=30)
    )
    reopened.observe_all([now_vm], now=NOON, complete=True)
    hourly = pricing.get_catalog().hourly(now_vm)
    assert hourly is not None
    runs = reopened.runs["id-gpu"]
    assert [(r.start, r.stop) for r in runs] == [
        (first, first + timedelta(minutes=30)),
        (NOON - timedelta(hours=1), None),
    ]
    spent, known = reopened.cost_between("id-gpu", NOON - timedelta(hours=3), NOON)
    assert known and spent == pytest.approx(hourly * 1.5)


def test_midnight_starts_a_new_day_but_keeps_the_month(store: SpendStore) -> None:
    evening = datetime(2026, 12, 2, 23, 0, tzinfo=timezone.utc)
    vm = gpu_vm(evening)
    ledger = store.load()
    ledger.observe_all([vm], now=evening + timedelta(minutes=30), complete=True)
    ledger.observe_all([], now=evening + timedelta(minutes=31), complete=True)  # deleted
    after_midnight = datetime(2026, 12, 3, 0, 30, tzinfo=timezone.utc)
    assert today(ledger, [], after_midnight) == 0.0
    month = ledger.gone_between(pricing.start_of_month(after_midnight), after_midnight)
    assert month.value > 0 and not month.unknown


def test_old_months_are_dropped_on_save(store: SpendStore) -> None:
    long_ago = datetime(2026, 9, 1, 12, 0, tzinfo=timezone.utc)
    ledger = store.load()
    ledger.observe_all([gpu_vm(long_ago)], now=long_ago, complete=True)
    ledger.observe_all([], now=long_ago + timedelta(hours=1), complete=True)
    store.save(ledger, NOON, force=True)
    assert SpendStore(store.path, "proj").load().names == {}


def test_a_damaged_ledger_reads_as_empty(store: SpendStore) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text('{"proj": {"instances": {"x": {"runs": [["nope", null, "a"]]}}}}')
    ledger = store.load()
    assert ledger.runs == {}
    store.path.write_text("garbage")
    assert store.load().names == {}


# --- training: custom jobs and tuning trials ---------------------------------------------------


def job(name: str, state: str, started: datetime, ended: datetime | None = None) -> Job:
    return Job(
        name=f"projects/p/locations/us-central1/customJobs/{name}",
        display_name=name,
        state=state,
        spec=JobSpec(name, (WorkerPool(machine_type="n1-standard-4"),)),
        started=started,
        ended=ended,
    )


def study(trials: tuple[Trial, ...]) -> TuningJob:
    return TuningJob(
        name="projects/p/locations/us-central1/hyperparameterTuningJobs/7",
        display_name="sweep",
        state="JOB_STATE_RUNNING",
        metric_id="val_loss",
        goal="MINIMIZE",
        algorithm="",
        parameter_ids=("lr",),
        max_trial_count=4,
        parallel_trial_count=2,
        max_failed_trial_count=0,
        trials=trials,
        trial_job=JobSpec("sweep", (WorkerPool(machine_type="n1-standard-8"),)),
    )


def test_running_jobs_and_trials_are_in_the_burn_and_today(store: SpendStore) -> None:
    catalog = pricing.get_catalog()
    job_rate = catalog.vertex_hourly("n1-standard-4", "us-central1")
    trial_rate = catalog.vertex_hourly("n1-standard-8", "us-central1")
    assert job_rate and trial_rate
    hour_ago = NOON - timedelta(hours=1)
    jobs = [job("train", "JOB_STATE_RUNNING", hour_ago)]
    trials = (
        Trial("1", "ACTIVE", {"lr": 0.1}, started=hour_ago),
        Trial("2", "SUCCEEDED", {"lr": 0.2}, started=hour_ago, ended=NOON - timedelta(minutes=30)),
        Trial("3", "REQUESTED", {"lr": 0.3}),
    )
    ledger = store.load()
    burn = pricing.jobs_burn(jobs, NOON, tuning_jobs=[study(trials)], ledger=ledger)
    assert burn.rate == pytest.approx(job_rate + trial_rate)  # the job and the active trial
    assert burn.today == pytest.approx(job_rate + trial_rate * 1.5)


def test_a_deleted_job_keeps_what_it_cost_today_across_a_restart(store: SpendStore) -> None:
    catalog = pricing.get_catalog()
    rate = catalog.vertex_hourly("n1-standard-4", "us-central1")
    assert rate
    done = job("old", "JOB_STATE_SUCCEEDED", NOON - timedelta(hours=2), NOON - timedelta(hours=1))
    ledger = store.load()
    before = pricing.jobs_burn([done], NOON, ledger=ledger).today
    assert before == pytest.approx(rate)
    store.save(ledger, NOON, parts=("training",))
    # Deleted from Vertex, cloudpane restarted: today's figure still holds it.
    restarted = SpendStore(store.path, "proj").load()
    assert pricing.jobs_burn([], NOON, ledger=restarted).today == pytest.approx(before)


def test_a_job_that_vanishes_while_running_ends_when_last_seen(store: SpendStore) -> None:
    ledger = store.load()
    running = job("gone", "JOB_STATE_RUNNING", NOON - timedelta(hours=1))
    pricing.jobs_burn([running], NOON, ledger=ledger)
    later = NOON + timedelta(hours=5)
    after = pricing.jobs_burn([], later, ledger=ledger)
    rate = pricing.get_catalog().vertex_hourly("n1-standard-4", "us-central1")
    assert after.rate == 0 and after.today == pytest.approx(rate)  # 1 h, not 6 h


def test_the_vms_pane_and_the_jobs_pane_keep_their_own_parts(store: SpendStore) -> None:
    """Two writers of one file: each keeps its part, neither erases the other's."""
    vms = store.load()
    vms.observe_all([gpu_vm(NOON - timedelta(minutes=25))], now=NOON, complete=True)
    store.save(vms, NOON, parts=("instances",))
    jobs = SpendStore(store.path, "proj")
    training = jobs.load()
    pricing.jobs_burn(
        [job("t", "JOB_STATE_RUNNING", NOON - timedelta(hours=1))], NOON, ledger=training
    )
    jobs.save(training, NOON, parts=("training",))
    both = SpendStore(store.path, "proj").load()
    assert "id-gpu" in both.names and both.training
