import time, resource
from datetime import datetime, timedelta, timezone
from test_jobs_pane import make_app, wait_for
from tui.panes.job_logs import LogScreen, log_hub
from tui.services.job_models import Job, JobSpec, WorkerPool, LogEntry
from textual.widgets import RichLog

async def test_bench(clean_sandbox, sandbox_info):
    app = make_app(clean_sandbox, sandbox_info)
    job = Job("projects/p/locations/us-central1/customJobs/99", "bench", "JOB_STATE_RUNNING", JobSpec("bench", (WorkerPool(),)))
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = LogScreen(log_hub(app, clean_sandbox), job)
        app.push_screen(screen)
        await pilot.pause(0.5)
        n = 0
        times = []
        for batch in range(100):
            entries = [LogEntry(t0 + timedelta(milliseconds=n + i), str(n + i), "INFO" if i % 7 else "ERROR",
                                f"step {n+i} loss=0.{i:04d} some more text to make the line longer than usual ...", "99", "workerpool0-0")
                       for i in range(1000)]
            n += 1000
            s = time.perf_counter()
            screen.log_entries(entries)
            await pilot.pause()
            times.append(time.perf_counter() - s)
            if batch in (9, 49, 99):
                print(f"after {n} lines: rows={len(screen.rows)} richlog={len(screen.query_one(RichLog).lines)} maxrss={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024:.0f} MiB batch={times[-1]*1000:.0f} ms")
        times.sort()
        print(f"1000-line batch: median {times[50]*1000:.0f} ms, max {times[-1]*1000:.0f} ms")
        assert [r.text for r in screen.rows][-1].startswith("step 99999")
        s = time.perf_counter()
        screen.needle = "step 99999"; screen.redraw(); screen.action_next_match(1)
        await pilot.pause()
        print(f"search redraw+jump over 5000 rows: {(time.perf_counter()-s)*1000:.0f} ms, match {screen.match_row}")
