import time
from tests.test_buckets_pane import *  # noqa

async def test_timing(svc, sandbox_info):
    t = time.monotonic()
    def lap(what):
        nonlocal t
        now = time.monotonic(); print(f"{what}: {now - t:.2f}s"); t = now
    await svc.create_bucket("open-data", "us-central1", uniform_access=True)
    lap("create1")
    await svc.make_bucket_public("open-data")
    lap("public")
    await svc.create_bucket("fine", "NAM4", "NEARLINE", uniform_access=False)
    await svc.create_bucket("sealed", "EU", public_access_prevention="enforced")
    lap("create2,3")
    app = make_app(svc.backend, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        lap("start")
        await open_tab(pilot, app, "open-data", "fine", "sealed")
        lap("tab")
        await pilot.press("slash", *"sea")
        await wait_for(pilot, lambda: bucket_names(app) == ["sealed"])
        lap("filter")
    lap("exit")
